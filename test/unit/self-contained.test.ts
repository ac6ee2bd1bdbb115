// The repository stands alone: a user's clone has nothing beside it, so no tracked text file (source,
// test, script, doc, config, report) may point outside the checkout at a sibling `shared/` folder.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT } from '../helpers/gateway.js';

// Built from parts so that this file does not match itself.
const SHARED = ['sha', 'red'].join('');
const OUTSIDE_REFERENCES: readonly RegExp[] = [
  new RegExp(`\\.\\.[/\\\\]${SHARED}\\b`), // the parent's folder, either slash
  new RegExp(`${SHARED}[/\\\\]data\\b`), // its data folder, at any depth
  new RegExp(`["']${SHARED}["']\\s*[,/]\\s*["']data["']`), // the same path joined from parts (path.join, pathlib)
];

/** Files that hold the pattern itself, to look for it (the training package's own standalone check). */
const CHECKERS = new Set(['training/tests/test_standalone.py']);

/** A file is binary (ONNX, PNG, gzip) when its first 8000 bytes hold a NUL, as git itself decides. */
function isBinary(bytes: Buffer): boolean {
  return bytes.subarray(0, 8000).includes(0);
}

/** Offending lines of every tracked text file, as `path:line: text`. */
function outsideReferences(root: string): string[] {
  const files = execFileSync('git', ['ls-files', '-z'], { cwd: root, maxBuffer: 64 * 1024 * 1024 }).toString('utf8').split('\0').filter(Boolean);
  const hits: string[] = [];
  for (const file of files) {
    if (CHECKERS.has(file)) continue;
    let bytes: Buffer;
    try {
      bytes = readFileSync(join(root, file));
    } catch {
      continue; // deleted in the working tree but still in the index: nothing to read
    }
    if (isBinary(bytes)) continue;
    const lines = bytes.toString('utf8').split('\n');
    lines.forEach((line, i) => {
      if (OUTSIDE_REFERENCES.some((re) => re.test(line))) hits.push(`${file}:${i + 1}: ${line.trim().slice(0, 160)}`);
    });
  }
  return hits;
}

describe('the repository is self-contained', () => {
  it('has tracked files to check (a git checkout)', () => {
    const count = execFileSync('git', ['ls-files'], { cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024 }).toString('utf8').split('\n').filter(Boolean).length;
    assert.ok(count > 100, `git ls-files listed only ${count} files`);
  });

  it('no tracked source, test, script or doc refers to a shared folder outside the checkout', () => {
    const hits = outsideReferences(REPO_ROOT);
    assert.deepEqual(hits, [], `copy what these need into the repository (see third_party/README.md):\n${hits.join('\n')}`);
  });

  it('the patterns catch the forms a path to the outside takes', () => {
    const forms = [
      `see ../${SHARED}/data/README.md`,
      `/work/${SHARED}/data/clip/tokenizer.json`,
      `join(REPO_ROOT, '..', '${SHARED}', 'data', 'clip')`,
      `parents[3] / "${SHARED}" / "data" / "clip"`,
      `..\\${SHARED}\\models`,
    ];
    for (const form of forms) assert.ok(OUTSIDE_REFERENCES.some((re) => re.test(form)), form);
    for (const fine of ['a shared batch', 'shared by every request', 'libonnxruntime_providers_shared.so', 'shared-data-plane']) {
      assert.ok(!OUTSIDE_REFERENCES.some((re) => re.test(fine)), fine);
    }
  });
});
