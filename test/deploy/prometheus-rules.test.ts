// deploy/prometheus: `promtool check rules` and `promtool test rules` (unit tests with input
// series, deploy/prometheus/rules.test.yaml). promtool comes from Debian's `prometheus` package
// (scripts/install-system-deps.sh installs it when missing).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT } from '../helpers/gateway.js';

const DIR = join(REPO_ROOT, 'deploy', 'prometheus');

function promtool(...args: string[]): { status: number | null; output: string } {
  const r = spawnSync('promtool', args, { cwd: DIR, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw new Error(`promtool not runnable (${r.error.message}); install Debian's prometheus package: bash scripts/install-system-deps.sh`);
  return { status: r.status, output: r.stdout + r.stderr };
}

describe('prometheus rules', () => {
  it('pass promtool check rules', () => {
    const r = promtool('check', 'rules', 'rules.yaml');
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /SUCCESS: \d+ rules found/);
  });

  it('pass their promtool unit tests', () => {
    const r = promtool('test', 'rules', 'rules.test.yaml');
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /SUCCESS/);
  });

  it('promtool test rules catches a wrong expectation (the unit tests are live)', () => {
    const r = spawnSync('bash', ['-c', 'sed "s/value: 0.25/value: 0.5/" rules.test.yaml > "$TMP/t.yaml" && cp rules.yaml "$TMP/" && cd "$TMP" && promtool test rules t.yaml'], {
      cwd: DIR,
      encoding: 'utf8',
      env: { ...process.env, TMP: spawnSync('mktemp', ['-d'], { encoding: 'utf8' }).stdout.trim() },
    });
    assert.notEqual(r.status, 0, r.stdout + r.stderr);
  });
});
