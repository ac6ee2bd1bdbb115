// Writes the k6 fixture images in loadtest/k6/fixtures/: a few 64x64 procedural shapes of known
// class (training/data/shapes.py, rendered by Debian's Python on the "fixture" split with a seed
// the zoo was never trained on), re-encoded by sharp as palette PNG or as JPEG, plus index.json
// that names each file's content type and class and the zero-shot label set. Each file stays a few
// KB. test/deploy/k6.test.ts checks that the default classifier and MiniCLIP label every one right.
//   npx tsx loadtest/k6/make-fixtures.ts
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type { FixtureIndex } from './lib/requests.js';

const OUT = fileURLToPath(new URL('./fixtures/', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SEED = 6006;
const SIZE = 64;
const JPEG_QUALITY = 85;
/** PNGs are palette-quantized to stay a few KB (the renderer's pixel noise defeats lossless compression). */
const PNG_COLOURS = 64;

/**
 * Classes of the fixtures (none of them a colour-shape pair held out of MiniCLIP's training), how each
 * is encoded, and which rendering of the fixture split (index 0 unless said): the default classifier,
 * distilled on the hard 64-class set, calls the yellow hexagon of index 0 a circle (hexagon/circle is
 * its weakest pair, models/shapes-mobilenetv3/MODEL_CARD.md), so that fixture is index 1, which it gets.
 */
const IMAGES: readonly { className: string; format: 'png' | 'jpeg'; index?: number }[] = [
  { className: 'red_circle', format: 'png' },
  { className: 'blue_star', format: 'jpeg' },
  { className: 'green_heart', format: 'png' },
  { className: 'yellow_hexagon', format: 'jpeg', index: 1 },
];

/** Zero-shot labels: the fixtures' classes plus distractors of the same colours or shapes. */
const ZERO_SHOT_LABELS = ['red circle', 'blue star', 'green heart', 'yellow hexagon', 'red star', 'blue circle', 'green hexagon', 'yellow heart', 'orange triangle', 'purple cross', 'cyan crescent', 'pink square'];

/** PNG bytes of one rendering of `className` (image `index` of the fixture split, seed SEED). */
function render(className: string, index: number): Buffer {
  const script = `
import sys
from training.data.shapes import ShapesConfig, class_names, render
name, seed, size, index = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
render(seed, "fixture", index, class_names().index(name), ShapesConfig(image_size=size)).save(sys.stdout.buffer, format="PNG", optimize=True)
`;
  return execFileSync('/usr/bin/python3', ['-c', script, className, String(SEED), String(SIZE), String(index)], { cwd: REPO_ROOT, maxBuffer: 1024 * 1024 });
}

mkdirSync(OUT, { recursive: true });
const index: FixtureIndex = { images: [], zeroShotLabels: ZERO_SHOT_LABELS };
for (const { className, format, index: renderIndex = 0 } of IMAGES) {
  const png = render(className, renderIndex);
  const bytes = format === 'png' ? await sharp(png).png({ compressionLevel: 9, palette: true, colours: PNG_COLOURS, dither: 0 }).toBuffer() : await sharp(png).jpeg({ quality: JPEG_QUALITY }).toBuffer();
  const file = `${className}.${format === 'png' ? 'png' : 'jpg'}`;
  writeFileSync(join(OUT, file), bytes);
  index.images.push({ file, contentType: `image/${format}`, className });
  console.log(`${file}: ${bytes.length} bytes`);
}
writeFileSync(join(OUT, 'index.json'), `${JSON.stringify(index, null, 2)}\n`);
