// Images of known class from the training package's procedural generator (training/data/shapes.py),
// rendered by Debian's Python with a seed the zoo was never trained on.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './gateway.js';

export interface ShapeImage {
  readonly label: string;
  readonly png: Buffer;
}

/**
 * `count` PNGs cycling through the 64 colour-shape classes, rendered with `seed`, from the easy set
 * or the hard one (`difficulty: 'hard'`, as `python3 -m training data --set difficulty=hard`).
 */
export function renderShapes(count: number, seed: number, options: { size?: number; difficulty?: 'easy' | 'hard' } = {}): ShapeImage[] {
  const dir = mkdtempSync(join(tmpdir(), 'shapes-'));
  const script = `
import json, sys
from training.data.shapes import ShapesConfig, class_names, render
count, seed, size, out, difficulty = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
names = class_names()
rows = []
for i in range(count):
    label = i % len(names)
    im = render(seed, "test", i, label, ShapesConfig(image_size=size, difficulty=difficulty))
    path = f"{out}/{i}.png"
    im.save(path)
    rows.append({"path": path, "label": names[label]})
print(json.dumps(rows))
`;
  const stdout = execFileSync('/usr/bin/python3', ['-c', script, String(count), String(seed), String(options.size ?? 64), dir, options.difficulty ?? 'easy'], { cwd: REPO_ROOT, encoding: 'utf8' });
  return (JSON.parse(stdout) as { path: string; label: string }[]).map((r) => ({ label: r.label, png: readFileSync(r.path) }));
}
