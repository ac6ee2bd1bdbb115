// gateway-cli (src/cli/) as a user runs it: a child process speaking gRPC or HTTP to a real
// gateway (API keys and the admin API on), checked on its JSON Lines and table output, its stderr
// and its exit codes.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, copyFile, writeFile, mkdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hashApiKey } from '../../src/server/auth.js';
import { REPO_ROOT, type TestGateway, ZOO_MODELS, makeRepository, startTestGateway } from '../helpers/gateway.js';

const KEY = 'cli-test-key-0123456789abcdef';
/** A key that is not an admin key: it may read label sets, not change them. */
const READER_KEY = 'cli-test-reader-key-0123456789';
const CLASSIFIER = 'shapes-mobilenetv3';
const CLIP = 'miniclip-shapes';
const GOLDEN = join(ZOO_MODELS, CLASSIFIER, '1', 'golden');
const IMAGE = join(GOLDEN, '0.png');

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

function lines(stdout: string): Record<string, unknown>[] {
  return stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
}

type Labels = { label: string; score: number }[];

describe('gateway-cli', () => {
  let gw: TestGateway;
  let address: string;
  let dir: string;
  const auth = { authorization: `Bearer ${KEY}` };
  before(async () => {
    gw = await startTestGateway(await makeRepository([{ from: join(ZOO_MODELS, CLASSIFIER) }, { from: join(ZOO_MODELS, CLIP) }]), {
      adminApi: true,
      apiKeys: [
        { name: 'cli', sha256: hashApiKey(KEY), models: ['*'], requestsPerSecond: 0, burst: 100, admin: true },
        { name: 'reader', sha256: hashApiKey(READER_KEY), models: ['*'], requestsPerSecond: 0, burst: 100 },
      ],
    });
    address = `127.0.0.1:${gw.gateway.grpcPort}`;
    dir = await mkdtemp(join(tmpdir(), 'cli-images-'));
    await mkdir(join(dir, 'nested'));
    for (const i of [0, 1, 2]) await copyFile(join(GOLDEN, `${i}.png`), join(dir, i === 2 ? 'nested' : '', `${i}.png`));
  });
  after(async () => {
    await gw.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('models: one JSON line per model over gRPC; the same models as a table over HTTP', async () => {
    const run = await cli(['--address', address, '--api-key', KEY, 'models']);
    assert.equal(run.code, 0, run.stderr);
    const models = lines(run.stdout) as { name: string; state: string; kind: string; versions: { version: string; batching: { max_batch_size: number } }[] }[];
    assert.deepEqual(models.map((m) => [m.name, m.kind, m.state, m.versions.map((v) => v.version)]).sort(), [
      [CLIP, 'clip', 'READY', ['1']],
      [CLASSIFIER, 'image-classifier', 'READY', ['1']],
    ]);
    assert.ok(models.every((m) => m.versions[0]!.batching.max_batch_size > 0));
    const table = await cli(['--url', gw.http, '--api-key', KEY, '-o', 'table', 'models']);
    assert.equal(table.code, 0, table.stderr);
    const rows = table.stdout.trimEnd().split('\n');
    assert.match(rows[0]!, /^NAME\s+KIND\s+STATE\s+DEFAULT_VERSION\s+VERSIONS\s+PROVIDER$/);
    assert.deepEqual(rows.slice(1).map((r) => r.split(/\s+/).slice(0, 3)).sort(), [
      [CLIP, 'clip', 'READY'],
      [CLASSIFIER, 'image-classifier', 'READY'],
    ]);
  });

  it('classify FILE...: the labels the HTTP API answers, over gRPC (key and address from the environment) and over HTTP', async () => {
    const files = [0, 1].map((i) => join(GOLDEN, `${i}.png`));
    const expected = await Promise.all(
      files.map(async (f) => {
        const res = await fetch(`${gw.http}/v1/classify?model=${CLASSIFIER}&top_k=3`, { method: 'POST', headers: { 'content-type': 'image/png', ...auth }, body: readFileSync(f) });
        return ((await res.json()) as { labels: Labels }).labels.map((l) => l.label);
      }),
    );
    for (const [args, env] of [
      [[], { GATEWAY_ADDRESS: address, GATEWAY_API_KEY: KEY }],
      [['--url', gw.http, '--api-key', KEY], {}],
    ] as const) {
      const run = await cli([...args, 'classify', ...files, '--model', CLASSIFIER, '--top-k', '3'], env);
      assert.equal(run.code, 0, run.stderr);
      const results = lines(run.stdout) as { file: string; model: string; labels: Labels; batch_size: number; timing: { total_ms: number } }[];
      assert.equal(results.length, 2);
      for (const [i, f] of files.entries()) {
        const r = results.find((x) => x.file === f)!;
        assert.equal(r.model, CLASSIFIER);
        assert.deepEqual(r.labels.map((l) => l.label), expected[i]);
        assert.ok(r.batch_size >= 1 && r.timing.total_ms > 0);
      }
    }
  });

  it('classify DIR: every image in the folder, recursively, as a table; no progress bar when stderr is not a terminal', async () => {
    const run = await cli(['-a', address, '--api-key', KEY, '-j', '2', '-o', 'table', 'classify', dir, '--model', CLASSIFIER]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, '');
    const rows = run.stdout.trimEnd().split('\n');
    assert.match(rows[0]!, /^FILE\s+LABEL\s+SCORE\s+BATCH\s+MS$/);
    assert.deepEqual(rows.slice(1).map((r) => r.split(/\s+/)[0]).sort(), [join(dir, '0.png'), join(dir, '1.png'), join(dir, 'nested', '2.png')]);
  });

  it('classify DIR with stderr on a terminal: a progress bar there, the results in the redirected stdout (script(1) gives the CLI a pty)', async () => {
    const command = [process.execPath, '--import', 'tsx', join(REPO_ROOT, 'src', 'cli', 'main.ts'), '-a', address, '--api-key', KEY, '-j', '1', 'classify', dir, '--model', CLASSIFIER]
      .map((w) => `'${w}'`)
      .join(' ');
    // Results to a file, as a user redirects them; stderr stays on the terminal.
    const results = join(dir, 'results.jsonl');
    const run = await new Promise<Run>((resolve) => {
      execFile('script', ['-qec', `${command} > '${results}'`, '/dev/null'], { cwd: REPO_ROOT, env: { PATH: process.env['PATH'] ?? '', TERM: 'xterm' }, timeout: 60_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
      });
    });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /\d\/3 images \| 0 failed/);
    assert.equal(lines(await readFile(results, 'utf8')).length, 3);
    await rm(results);
  });

  it('a folder with a bad file: the good ones answered, the bad one an error line with its catalog code, exit code 1', async () => {
    const bad = await mkdtemp(join(tmpdir(), 'cli-bad-'));
    try {
      await copyFile(IMAGE, join(bad, 'a.png'));
      await writeFile(join(bad, 'b.png'), 'not an image');
      const run = await cli(['-a', address, '--api-key', KEY, 'classify', bad, '--model', CLASSIFIER]);
      assert.equal(run.code, 1);
      const results = lines(run.stdout) as { file: string; labels?: Labels; error?: { code: string; grpc_status: string } }[];
      assert.ok(results.find((r) => r.file.endsWith('a.png'))!.labels!.length > 0);
      assert.deepEqual(results.find((r) => r.file.endsWith('b.png'))!.error?.code, 'INVALID_IMAGE');
      assert.match(run.stderr, /b\.png: INVALID_ARGUMENT INVALID_IMAGE: /);
    } finally {
      await rm(bad, { recursive: true, force: true });
    }
  });

  it('zero-shot FILE --labels: the order the HTTP API answers, over gRPC and HTTP', async () => {
    const labels = ['a red circle', 'a blue square', 'a green triangle'];
    const res = await fetch(`${gw.http}/v1/zero-shot`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify({ model: CLIP, image: readFileSync(IMAGE).toString('base64'), labels }) });
    const expected = ((await res.json()) as { labels: Labels }).labels.map((l) => l.label);
    for (const target of [['-a', address], ['--url', gw.http]]) {
      const run = await cli([...target, '--api-key', KEY, 'zero-shot', IMAGE, '--model', CLIP, '--labels', labels.join(',')]);
      assert.equal(run.code, 0, run.stderr);
      const [r] = lines(run.stdout) as { labels: Labels }[];
      assert.deepEqual(r!.labels.map((l) => l.label), expected);
    }
  });

  it('zero-shot --rerank --rerank-top-k: the reranked answer the HTTP API gives, over gRPC and HTTP', async () => {
    const labels = ['red circle', 'blue square', 'green triangle', 'red star'];
    const res = await fetch(`${gw.http}/v1/zero-shot`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify({ model: CLIP, image: readFileSync(IMAGE).toString('base64'), labels, rerank: true, rerank_top_k: 2 }) });
    const expected = ((await res.json()) as { labels: Labels }).labels.map((l) => l.label);
    assert.equal(expected.length, 2);
    for (const target of [['-a', address], ['--url', gw.http]]) {
      const run = await cli([...target, '--api-key', KEY, 'zero-shot', IMAGE, '--model', CLIP, '--labels', labels.join(','), '--rerank', '--rerank-top-k', '2']);
      assert.equal(run.code, 0, run.stderr);
      const [r] = lines(run.stdout) as { labels: Labels; reranked: boolean }[];
      assert.equal(r!.reranked, true);
      assert.deepEqual(r!.labels.map((l) => l.label), expected);
    }
  });

  it('label-set put FILE | --labels, list, get, zero-shot --label-set and delete, over gRPC and HTTP', async () => {
    const labels = ['a red cross', 'a blue star', 'a green triangle', 'a yellow circle'];
    const file = join(dir, 'shapes.txt');
    await writeFile(file, `#template: a drawing of {}.\n${labels.join('\n')}\n`);
    const put = await cli(['-a', address, '--api-key', KEY, 'label-set', 'put', 'shapes', file, '--model', CLIP]);
    assert.equal(put.code, 0, put.stderr);
    const [registered] = lines(put.stdout) as { name: string; source: string; labels_count: number; templates: string[] }[];
    assert.deepEqual([registered!.name, registered!.source, registered!.labels_count, registered!.templates], ['shapes', 'api', 4, ['a drawing of {}.']]);
    const byLabels = await cli(['--url', gw.http, '--api-key', KEY, 'label-set', 'put', 'pair', '--labels', 'a red cross,a blue star']);
    assert.equal(byLabels.code, 0, byLabels.stderr);

    const table = await cli(['--url', gw.http, '--api-key', READER_KEY, '-o', 'table', 'label-set', 'list']);
    assert.equal(table.code, 0, table.stderr);
    const rows = table.stdout.trimEnd().split('\n');
    assert.deepEqual(rows[0]!.split(/\s+/), ['MODEL', 'NAME', 'SOURCE', 'LABELS', 'TEMPLATES', 'VERSIONS']);
    assert.deepEqual(rows.slice(1).map((r) => r.split(/\s+/)).sort(), [
      [CLIP, 'pair', 'api', '2', '0', '1'],
      [CLIP, 'shapes', 'api', '4', '1', '1'],
    ]);
    const got = await cli(['-a', address, '--api-key', READER_KEY, 'label-set', 'get', 'shapes']);
    assert.equal(got.code, 0, got.stderr);
    assert.deepEqual((lines(got.stdout)[0] as { labels: string[] }).labels, labels);

    const res = await fetch(`${gw.http}/v1/zero-shot`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify({ model: CLIP, image: readFileSync(IMAGE).toString('base64'), label_set: 'shapes' }) });
    const expected = ((await res.json()) as { labels: Labels }).labels.map((l) => l.label);
    assert.equal(expected.length, 4);
    for (const target of [['-a', address], ['--url', gw.http]]) {
      const run = await cli([...target, '--api-key', READER_KEY, 'zero-shot', IMAGE, '--model', CLIP, '--label-set', 'shapes']);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual((lines(run.stdout)[0] as { labels: Labels }).labels.map((l) => l.label), expected);
    }

    const denied = await cli(['-a', address, '--api-key', READER_KEY, 'label-set', 'delete', 'shapes']);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /^gateway-cli: PERMISSION_DENIED: key "reader" is not an admin key/);
    for (const [target, name] of [[['-a', address], 'shapes'], [['--url', gw.http], 'pair']] as const) {
      const deleted = await cli([...target, '--api-key', KEY, 'label-set', 'delete', name]);
      assert.equal(deleted.code, 0, deleted.stderr);
      assert.deepEqual(lines(deleted.stdout), [{ model: '', name, deleted: true }]);
    }
    const gone = await cli(['--url', gw.http, '--api-key', KEY, 'label-set', 'get', 'shapes']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /NOT_FOUND: label set "shapes" is not registered for model "miniclip-shapes"/);
    const bad = join(dir, 'bad.txt');
    await writeFile(bad, 'a red cross\n\na blue star\n');
    const refused = await cli(['-a', address, '--api-key', KEY, 'label-set', 'put', 'bad', bad]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /INVALID_ARGUMENT: line 2 is empty/);
  });

  it('embed: the same vectors over gRPC and HTTP, L2-normalized', async () => {
    const args = ['--api-key', KEY, 'embed', '--model', CLIP, '--image', IMAGE, '--text', 'a red circle', '--text', 'a blue square'];
    const viaGrpc = await cli(['-a', address, ...args]);
    const viaHttp = await cli(['--url', gw.http, ...args]);
    assert.equal(viaGrpc.code, 0, viaGrpc.stderr);
    assert.equal(viaHttp.code, 0, viaHttp.stderr);
    type Embed = { dimensions: number; image_embedding: { values: number[] }; text_embeddings: { values: number[] }[] };
    const [g] = lines(viaGrpc.stdout) as Embed[];
    const [h] = lines(viaHttp.stdout) as Embed[];
    assert.equal(g!.text_embeddings.length, 2);
    assert.equal(g!.image_embedding.values.length, g!.dimensions);
    const norm = Math.hypot(...g!.image_embedding.values);
    assert.ok(Math.abs(norm - 1) < 1e-3, `norm ${norm}`);
    for (const [a, b] of [[g!.image_embedding.values, h!.image_embedding.values], [g!.text_embeddings[1]!.values, h!.text_embeddings[1]!.values]] as const) {
      assert.ok(a.every((v, i) => Math.abs(v - b[i]!) < 1e-5));
    }
  });

  it('infer: KServe v2 with JSON tensors, the same logits over gRPC and HTTP', async () => {
    const input = new Float32Array((await readFile(join(GOLDEN, '0.input.f32'))).buffer.slice(0));
    const file = join(dir, 'infer.json');
    await writeFile(file, JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 64, 64], data: Array.from(input) }] }));
    const outputs: { name: string; shape: number[]; data: number[] }[][] = [];
    for (const target of [['-a', address], ['--url', gw.http]]) {
      const run = await cli([...target, '--api-key', KEY, 'infer', '--model', CLASSIFIER, '--input', `@${file}`]);
      assert.equal(run.code, 0, run.stderr);
      const [r] = lines(run.stdout) as { model_name: string; outputs: { name: string; shape: number[]; data: number[] }[] }[];
      assert.equal(r!.model_name, CLASSIFIER);
      outputs.push(r!.outputs);
    }
    const [viaGrpc, viaHttp] = outputs as [(typeof outputs)[0], (typeof outputs)[0]];
    assert.equal(viaGrpc[0]!.shape[0], 1);
    assert.ok(viaGrpc[0]!.data.length > 1);
    assert.ok(viaGrpc[0]!.data.every((v, i) => Math.abs(v - viaHttp[0]!.data[i]!) < 1e-4));
  });

  it('health: SERVING with exit code 0 over gRPC and HTTP; an unknown gRPC service is an error, exit code 1', async () => {
    const ok = await cli(['-a', address, 'health']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(lines(ok.stdout), [{ service: '', status: 'SERVING' }]);
    const http = await cli(['--url', gw.http, 'health']);
    assert.equal(http.code, 0, http.stderr);
    const unknown = await cli(['-a', address, 'health', '--service', 'no.such.Service']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /NOT_FOUND/);
  });

  it("a failed call prints the gRPC status and the gateway's error code on stderr, exit code 1, on both transports", async () => {
    for (const target of [['-a', address], ['--url', gw.http]]) {
      const missing = await cli([...target, '--api-key', KEY, 'classify', IMAGE, '--model', 'resnet-9000']);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /0\.png: NOT_FOUND MODEL_NOT_FOUND: model "resnet-9000" not found/);
      const noKey = await cli([...target, 'models']);
      assert.equal(noKey.code, 1);
      assert.match(noKey.stderr, /^gateway-cli: UNAUTHENTICATED: /);
    }
  });

  it('an unreachable gateway is named in the error', async () => {
    for (const target of [['-a', '127.0.0.1:1'], ['--url', 'http://127.0.0.1:1']]) {
      const run = await cli([...target, '--timeout-ms', '5000', '--retries', '0', 'models']);
      assert.equal(run.code, 1);
      assert.match(run.stderr, /cannot reach the gateway at (http:\/\/)?127\.0\.0\.1:1/);
    }
  });

  it('command-line mistakes: exit code 2 with the reason, before any call', async () => {
    for (const [args, reason] of [
      [[], /a command is needed/],
      [['predict'], /unknown command "predict"/],
      [['classify', IMAGE], /--model is required/],
      [['classify', '--model', 'm'], /classify needs at least one image file or folder/],
      [['classify', join(REPO_ROOT, 'no-such.png'), '--model', 'm'], /cannot read .*no-such\.png/],
      [['classify', IMAGE, '--model', 'm', '--top-k', 'three'], /--top-k "three"/],
      [['zero-shot', IMAGE], /zero-shot needs --labels \(comma-separated, or repeated\) or --label-set NAME/],
      [['zero-shot', IMAGE, '--label-set', 'shapes', '--labels', 'a,b'], /--label-set goes without --labels and --template/],
      [['label-set'], /label-set needs an action: list, get, put, delete/],
      [['label-set', 'show', 'x'], /label-set needs an action: .* \(got "show"\)/],
      [['label-set', 'get'], /label-set get needs the set's NAME/],
      [['label-set', 'put', 'x'], /label-set put needs a FILE \(one label per line\) or --labels/],
      [['label-set', 'put', 'x', join(REPO_ROOT, 'no-such.txt')], /cannot read .*no-such\.txt/],
      [['label-set', 'put', 'x', IMAGE, '--labels', 'a'], /a FILE or --labels \(with --template\), not both/],
      [['label-set', 'delete', 'x', 'y'], /label-set delete takes one NAME/],
      [['label-set', 'list', '--top-k', '3'], /label-set has no option --top-k/],
      [['embed', '--model', 'm'], /embed needs --image FILE and\/or --text T/],
      [['infer', '--model', 'm', '--input', '{"inputs": []}'], /--input needs at least one tensor/],
      [['models', '--model', 'm'], /models has no option --model/],
      [['models', '--timeout-ms', '0'], /--timeout-ms must be at least 1/],
      [['models', '-o', 'xml'], /--output "xml": expected jsonl or table/],
      [['models', '--url', 'localhost:8080'], /--url "localhost:8080"/],
    ] as const) {
      const run = await cli(['-a', '127.0.0.1:1', ...args]);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, reason);
    }
    const help = await cli(['--help']);
    assert.equal(help.code, 0);
    for (const command of ['classify', 'zero-shot', 'label-set', 'embed', 'infer', 'models', 'health']) assert.match(help.stdout, new RegExp(`^  ${command}\\b`, 'm'));
  });

  it('package.json: the bin is the compiled entry point, npm run cli runs the source, and the client is exported', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string>; scripts: Record<string, string>; exports: Record<string, { default: string }> };
    assert.deepEqual(pkg.bin, { 'gateway-cli': 'dist/cli/main.js' });
    assert.equal(pkg.scripts['cli'], 'tsx src/cli/main.ts');
    assert.equal(pkg.exports['./client']?.default, './dist/client/index.js');
    assert.match(readFileSync(join(REPO_ROOT, 'src', 'cli', 'main.ts'), 'utf8'), /^#!\/usr\/bin\/env node\n/, 'the bin needs a shebang');
  });
});
