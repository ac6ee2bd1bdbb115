// The committed generated code (src/client/gen/) matches the protos: `npm run gen:proto` into a
// temporary folder must write the same files, so a proto change without regeneration fails here.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT } from '../helpers/gateway.js';

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

describe('generated client code', () => {
  it('src/client/gen is what buf generate makes from proto/', () => {
    const out = mkdtempSync(join(tmpdir(), 'client-gen-'));
    try {
      // buf runs the protoc-gen-es plugin from node_modules/.bin, as npm run does.
      execFileSync(join(REPO_ROOT, 'node_modules', '.bin', 'buf'), ['generate', '-o', out], { cwd: REPO_ROOT, stdio: 'pipe', env: { ...process.env, PATH: `${join(REPO_ROOT, 'node_modules', '.bin')}:${process.env['PATH'] ?? ''}` } });
      const generated = join(out, 'src', 'client', 'gen');
      const committed = join(REPO_ROOT, 'src', 'client', 'gen');
      assert.deepEqual(files(generated), files(committed));
      for (const f of files(committed)) assert.equal(readFileSync(join(generated, f), 'utf8'), readFileSync(join(committed, f), 'utf8'), `${f} is stale: run npm run gen:proto`);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
