// gateway-cli (src/cli/) as a user runs it: a child process speaking gRPC to a real gateway (with
// API keys on), checked on its JSON output, its stderr and its exit codes.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hashApiKey } from '../../src/server/auth.js';
import { REPO_ROOT, type TestGateway, ZOO_MODELS, makeRepository, startTestGateway } from '../helpers/gateway.js';

const KEY = 'cli-test-key-0123456789abcdef';
const IMAGE = join(ZOO_MODELS, 'shapes-mobilenetv3', '1', 'golden', '0.png');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI the way `npm run cli` does (tsx over src/cli/main.ts), with a clean environment. */
function cli(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli', 'main.ts'), ...args], { cwd: REPO_ROOT, env: { PATH: process.env['PATH'] ?? '', ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('gateway-cli', () => {
  let gw: TestGateway;
  let address: string;
  before(async () => {
    gw = await startTestGateway(await makeRepository([{ from: join(ZOO_MODELS, 'shapes-mobilenetv3') }]), {
      apiKeys: [{ name: 'cli', sha256: hashApiKey(KEY), models: ['*'], requestsPerSecond: 0, burst: 100 }],
    });
    address = `127.0.0.1:${gw.gateway.grpcPort}`;
  });
  after(() => gw.stop());

  it('models: prints ListModels as JSON', async () => {
    const run = await cli(['--address', address, '--api-key', KEY, 'models']);
    assert.equal(run.code, 0, run.stderr);
    const reply = JSON.parse(run.stdout) as { models: { name: string; state: string; versions: { version: string }[] }[] };
    assert.deepEqual(
      reply.models.map((m) => [m.name, m.state, m.versions.map((v) => v.version)]),
      [['shapes-mobilenetv3', 'READY', ['1']]],
    );
  });

  it('classify: the same labels as a gRPC client gets, the key taken from GATEWAY_API_KEY and the address from GATEWAY_ADDRESS', async () => {
    const run = await cli(['classify', IMAGE, '--model', 'shapes-mobilenetv3', '--top-k', '3'], { GATEWAY_ADDRESS: address, GATEWAY_API_KEY: KEY });
    assert.equal(run.code, 0, run.stderr);
    const reply = JSON.parse(run.stdout) as { model: string; labels: { label: string; score: number }[] };
    assert.equal(reply.model, 'shapes-mobilenetv3');
    assert.equal(reply.labels.length, 3);
    const { labels } = await gw.client.classify({ model: 'shapes-mobilenetv3', image: readFileSync(IMAGE), top_k: 3 }, { apiKey: KEY });
    assert.deepEqual(
      reply.labels.map((l) => l.label),
      labels.map((l) => l.label),
    );
  });

  it('health: SERVING with exit code 0; an unknown service is an error, exit code 1', async () => {
    const ok = await cli(['-a', address, 'health']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(JSON.parse(ok.stdout), { service: '', status: 'SERVING' });
    const unknown = await cli(['-a', address, 'health', '--service', 'no.such.Service']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /NOT_FOUND/);
  });

  it("a failed call prints the gRPC status and the gateway's error code on stderr, exit code 1", async () => {
    const missing = await cli(['-a', address, '--api-key', KEY, 'classify', IMAGE, '--model', 'resnet-9000']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stdout, '');
    assert.match(missing.stderr, /^gateway-cli: NOT_FOUND MODEL_NOT_FOUND: model "resnet-9000" not found/);
    const noKey = await cli(['-a', address, 'models']);
    assert.equal(noKey.code, 1);
    assert.match(noKey.stderr, /UNAUTHENTICATED/);
    const notImage = await cli(['-a', address, '--api-key', KEY, 'classify', join(REPO_ROOT, 'package.json'), '--model', 'shapes-mobilenetv3']);
    assert.equal(notImage.code, 1);
    assert.match(notImage.stderr, /INVALID_ARGUMENT INVALID_IMAGE/);
  });

  it('an unreachable gateway is named in the error', async () => {
    const run = await cli(['-a', '127.0.0.1:1', '--timeout-ms', '5000', 'models']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /cannot reach the gateway at 127\.0\.0\.1:1/);
  });

  it('command-line mistakes: exit code 2 with the reason, before any call', async () => {
    for (const [args, reason] of [
      [[], /a command is needed/],
      [['predict'], /unknown command "predict"/],
      [['classify', IMAGE], /classify needs --model/],
      [['classify', '--model', 'm'], /classify takes one image file, got 0/],
      [['classify', join(REPO_ROOT, 'no-such.png'), '--model', 'm'], /cannot read .*no-such\.png/],
      [['classify', IMAGE, '--model', 'm', '--top-k', 'three'], /--top-k "three"/],
      [['models', '--model', 'm'], /models has no option --model/],
      [['models', '--timeout-ms', '0'], /--timeout-ms "0"/],
    ] as const) {
      const run = await cli(['-a', '127.0.0.1:1', ...args]);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, reason);
    }
    const help = await cli(['--help']);
    assert.equal(help.code, 0);
    for (const command of ['models', 'health', 'classify']) assert.match(help.stdout, new RegExp(`^  ${command}\\b`, 'm'));
  });

  it('package.json: the bin is the compiled entry point, and npm run cli runs the source', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string>; scripts: Record<string, string> };
    assert.deepEqual(pkg.bin, { 'gateway-cli': 'dist/cli/main.js' });
    assert.equal(pkg.scripts['cli'], 'tsx src/cli/main.ts');
    assert.match(readFileSync(join(REPO_ROOT, 'src', 'cli', 'main.ts'), 'utf8'), /^#!\/usr\/bin\/env node\n/, 'the bin needs a shebang');
  });
});
