// KServe v2 / Open Inference Protocol end to end on the real gateway and the shipped classifier:
// HTTP health, metadata and inference (JSON tensors, nested data, several rows, BYTES images,
// Triton's binary and classification extensions), clear 400s, 404s, deadlines and drain; v2 rows
// sharing batches with /v1 requests; auth; and the gRPC service called by an independent client
// (Debian's python3-grpcio with stubs generated from proto/kserve by grpc_tools.protoc).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { type ClassifierManifest, parseManifest } from '../../src/models/manifest.js';
import { ImagePreprocessor } from '../../src/models/preprocess.js';
import { hashApiKey } from '../../src/server/auth.js';
import { loadKServeProto } from '../../src/server/grpc-kserve.js';
import { REPO_ROOT, type TestGateway, ZOO_MODELS, makeRepository, metricValue, postImage, reflectionServices, startTestGateway } from '../helpers/gateway.js';

const run = promisify(execFile);
const MODEL = 'shapes-mobilenetv3';
const BATCHED = 'shapes-batched';
const GOLDEN = join(ZOO_MODELS, MODEL, '1', 'golden');
const PYTHON = '/usr/bin/python3';

type Json = Record<string, unknown>;
interface V2Output {
  name: string;
  datatype: string;
  shape: number[];
  data?: unknown[];
  parameters?: Json;
}

/** The model input of an image, preprocessed as the manifest says, by the gateway's own preprocessor. */
async function preprocess(image: Buffer): Promise<Float32Array> {
  const manifest = parseManifest(JSON.parse(await readFile(join(ZOO_MODELS, MODEL, 'model.json'), 'utf8'))) as ClassifierManifest;
  return new ImagePreprocessor(manifest.preprocessing, { maxImageBytes: 10 << 20, maxImagePixels: 40_000_000 }).run(image);
}

function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

function softmax(values: readonly number[]): number[] {
  const max = Math.max(...values);
  const e = values.map((v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

async function v2(http: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Json; text: string; headers: Headers }> {
  const init: RequestInit = body === undefined ? { headers } : { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) };
  const res = await fetch(`${http}${path}`, init);
  const text = await res.text();
  let json: Json = {};
  try {
    json = text ? (JSON.parse(text) as Json) : {};
  } catch {
    // not JSON: the test reading it says so
  }
  return { status: res.status, json, text, headers: res.headers };
}

function fp32Input(rows: readonly Float32Array[], name = 'input'): Json {
  const data = rows.flatMap((r) => Array.from(r));
  return { name, shape: [rows.length, 3, 64, 64], datatype: 'FP32', data };
}

/** Asserts a 400 whose body is exactly {"error": "..."} and whose message matches. */
function assertBadRequest(answer: { status: number; json: Json; headers: Headers }, message: RegExp): void {
  assert.equal(answer.status, 400, JSON.stringify(answer.json));
  assert.deepEqual(Object.keys(answer.json), ['error']);
  assert.match(answer.json['error'] as string, message);
  assert.equal(answer.headers.get('x-error-code'), 'INVALID_ARGUMENT');
}

describe('KServe v2 protocol', () => {
  let gw: TestGateway;
  let pngs: Buffer[];
  let tensors: Float32Array[];
  /** /v1/classify's answer for each golden image: top index and softmax scores by index. */
  let v1: { top: number; label: string; scores: Map<number, number> }[];

  before(async () => {
    gw = await startTestGateway(
      await makeRepository([
        { from: join(ZOO_MODELS, MODEL) },
        // fixed policy: waits up to 1 s for 8 rows whatever the load, so concurrent requests surely share a batch.
        { from: join(ZOO_MODELS, MODEL), as: BATCHED, patch: { batching: { policy: 'fixed', maxBatchSize: 8, maxQueueDelayMs: 1000 } } },
      ]),
    );
    pngs = await Promise.all([0, 1, 2].map((i) => readFile(join(GOLDEN, `${i}.png`))));
    tensors = await Promise.all(pngs.map(preprocess));
    v1 = [];
    for (const png of pngs) {
      const answer = await postImage(gw.http, `model=${MODEL}&top_k=64`, png);
      assert.equal(answer.status, 200);
      const labels = answer.json['labels'] as { label: string; score: number; index: number }[];
      v1.push({ top: labels[0]!.index, label: labels[0]!.label, scores: new Map(labels.map((l) => [l.index, l.score])) });
    }
    // The three images are different classes, so row order is checked too.
    assert.equal(new Set(v1.map((a) => a.top)).size, 3);
  });
  after(() => gw.stop());

  describe('HTTP', () => {
    it('answers health with the status code and an empty body', async () => {
      for (const path of ['/v2/health/live', '/v2/health/ready', `/v2/models/${MODEL}/ready`, `/v2/models/${MODEL}/versions/1/ready`]) {
        const answer = await v2(gw.http, path);
        assert.equal(answer.status, 200, path);
        assert.equal(answer.text, '', path);
      }
      const missing = await v2(gw.http, `/v2/models/${MODEL}/versions/9/ready`);
      assert.equal(missing.status, 404);
      assert.match(missing.json['error'] as string, /no version "9"/);
    });

    it('answers server and model metadata', async () => {
      const server = await v2(gw.http, '/v2');
      assert.equal(server.status, 200);
      assert.equal(server.json['name'], 'inference-gateway');
      assert.equal(typeof server.json['version'], 'string');
      assert.deepEqual(server.json['extensions'], ['binary_tensor_data', 'classification']);
      const expected = {
        name: MODEL,
        versions: ['1'],
        platform: 'onnxruntime_onnx',
        inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 3, 64, 64] }],
        outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 64] }],
      };
      assert.deepEqual((await v2(gw.http, `/v2/models/${MODEL}`)).json, expected);
      assert.deepEqual((await v2(gw.http, `/v2/models/${MODEL}/versions/1`)).json, expected);
    });

    it('infers on a JSON tensor with the same answer as /v1/classify', async () => {
      const answer = await v2(gw.http, `/v2/models/${MODEL}/infer`, { id: 'req-42', inputs: [fp32Input([tensors[0]!])], outputs: [{ name: 'logits' }] });
      assert.equal(answer.status, 200, answer.text);
      assert.equal(answer.json['model_name'], MODEL);
      assert.equal(answer.json['model_version'], '1');
      assert.equal(answer.json['id'], 'req-42');
      const [out] = answer.json['outputs'] as V2Output[];
      assert.deepEqual({ name: out!.name, datatype: out!.datatype, shape: out!.shape }, { name: 'logits', datatype: 'FP32', shape: [1, 64] });
      const logits = out!.data as number[];
      assert.equal(argmax(logits), v1[0]!.top);
      // Raw logits (no softmax in v2); their softmax is /v1's score for every class.
      softmax(logits).forEach((p, i) => assert.ok(Math.abs(p - v1[0]!.scores.get(i)!) < 1e-4, `class ${i}: ${p} vs ${v1[0]!.scores.get(i)}`));
    });

    it('infers a batch of rows, given flat or nested, in order', async () => {
      const rows = [tensors[1]!, tensors[2]!];
      const flat = await v2(gw.http, `/v2/models/${MODEL}/versions/1/infer`, { inputs: [fp32Input(rows)] });
      assert.equal(flat.status, 200, flat.text);
      const [out] = flat.json['outputs'] as V2Output[];
      assert.deepEqual(out!.shape, [2, 64]);
      const data = out!.data as number[];
      assert.equal(argmax(data.slice(0, 64)), v1[1]!.top);
      assert.equal(argmax(data.slice(64)), v1[2]!.top);

      // The same tensor in its natural [2][3][64][64] form.
      const nested = rows.map((r) => [0, 1, 2].map((c) => Array.from({ length: 64 }, (_, y) => Array.from(r.subarray(c * 4096 + y * 64, c * 4096 + y * 64 + 64)))));
      const again = await v2(gw.http, `/v2/models/${MODEL}/infer`, { inputs: [{ name: 'input', shape: [2, 3, 64, 64], datatype: 'FP32', data: nested }] });
      assert.equal(again.status, 200, again.text);
      const data2 = (again.json['outputs'] as V2Output[])[0]!.data as number[];
      data2.forEach((v, i) => assert.ok(Math.abs(v - data[i]!) < 1e-4));
    });

    it('preprocesses a BYTES input holding an encoded image, with the classification extension', async () => {
      const answer = await v2(gw.http, `/v2/models/${MODEL}/infer`, {
        inputs: [{ name: 'input', shape: [2], datatype: 'BYTES', data: [pngs[0]!.toString('base64'), pngs[2]!.toString('base64')] }],
        outputs: [{ name: 'logits', parameters: { classification: 3 } }],
      });
      assert.equal(answer.status, 200, answer.text);
      const [out] = answer.json['outputs'] as V2Output[];
      assert.deepEqual({ datatype: out!.datatype, shape: out!.shape }, { datatype: 'BYTES', shape: [2, 3] });
      const classes = (out!.data as string[]).map((s) => s.split(':'));
      assert.deepEqual([classes[0]![1], classes[0]![2]], [String(v1[0]!.top), v1[0]!.label]);
      assert.deepEqual([classes[3]![1], classes[3]![2]], [String(v1[2]!.top), v1[2]!.label]);
      assert.ok(Number(classes[0]![0]) >= Number(classes[1]![0]), 'best first');
    });

    it("speaks Triton's binary tensor data extension (as tritonclient sends it: no content type)", async () => {
      const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [1, 3, 64, 64], datatype: 'FP32', parameters: { binary_data_size: 12288 * 4 } }], outputs: [{ name: 'logits', parameters: { binary_data: true } }] }));
      const row = tensors[1]!;
      const res = await fetch(`${gw.http}/v2/models/${MODEL}/infer`, {
        method: 'POST',
        headers: { 'inference-header-content-length': String(header.length) },
        body: Buffer.concat([header, Buffer.from(row.buffer, row.byteOffset, row.byteLength)]),
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/octet-stream');
      const body = Buffer.from(await res.arrayBuffer());
      const headerLength = Number(res.headers.get('inference-header-content-length'));
      const json = JSON.parse(body.subarray(0, headerLength).toString()) as { outputs: V2Output[] };
      assert.deepEqual(json.outputs[0]!.parameters, { binary_data_size: 64 * 4 });
      const logits = new Float32Array(body.subarray(headerLength).buffer.slice(body.byteOffset + headerLength, body.byteOffset + body.length));
      assert.equal(logits.length, 64);
      assert.equal(argmax(logits), v1[1]!.top);
    });

    it('refuses bad tensors with a 400 that names the field and the limit', async () => {
      const infer = (body: unknown): ReturnType<typeof v2> => v2(gw.http, `/v2/models/${MODEL}/infer`, body);
      const one = fp32Input([tensors[0]!]);
      assertBadRequest(await infer({ inputs: [{ ...one, datatype: 'INT64' }] }), /input "input" has datatype "INT64"; the model takes FP32 \[-1, 3, 64, 64\]/);
      assertBadRequest(await infer({ inputs: [{ ...one, shape: [1, 3, 32, 32] }] }), /input "input" has shape \[1, 3, 32, 32\]; the model takes \[-1, 3, 64, 64\]/);
      assertBadRequest(await infer({ inputs: [{ ...one, shape: [3, 64, 64] }] }), /has shape \[3, 64, 64\]; the model takes \[-1, 3, 64, 64\]/);
      assertBadRequest(await infer({ inputs: [{ ...one, data: (one['data'] as number[]).slice(1) }] }), /input "input" has 12287 values in data; its shape needs 12288/);
      assertBadRequest(await infer({ inputs: [{ ...one, shape: [2, 3, 64, 64] }] }), /has 12288 values in data; its shape needs 24576/);
      assertBadRequest(await infer({ inputs: [{ ...one, data: ['x', ...(one['data'] as number[]).slice(1)] }] }), /data\[0\] is a string \("x"\); FP32 data must be numbers/);
      assertBadRequest(await infer({ inputs: [{ ...one, name: 'pixels' }] }), /unknown input "pixels"; model "shapes-mobilenetv3" takes one input, "input"/);
      assertBadRequest(await infer({ inputs: [one], outputs: [{ name: 'probs' }] }), /unknown output "probs"; model "shapes-mobilenetv3" produces "logits"/);
      assertBadRequest(await infer({ inputs: [one], outputs: [{ name: 'logits', parameters: { classification: 65 } }] }), /"classification" is 65; it must be an integer from 1 to 64/);
      assertBadRequest(await infer({ inputs: [{ ...one, shape: [257, 3, 64, 64] }] }), /batch dimension \(shape\[0\]\) is 257; the limit is 256 rows per request/);
      assertBadRequest(await infer({ inputs: [{ ...one, shape: [0, 3, 64, 64], data: [] }] }), /batch dimension \(shape\[0\]\) is 0; send at least one row/);
      assertBadRequest(await infer({ inputs: [{ name: 'input', shape: [1], datatype: 'BYTES', data: ['%%%'] }] }), /data\[0\] is not valid base64/);
      assertBadRequest(await infer({ inputs: [] }), /"inputs" must be a non-empty array/);
      assertBadRequest(await infer('{"inputs": ['), /request body is not valid JSON/);
      const corrupt = await infer({ inputs: [{ name: 'input', shape: [1], datatype: 'BYTES', data: [Buffer.from('not an image').toString('base64')] }] });
      assert.equal(corrupt.status, 400);
      assert.equal(corrupt.headers.get('x-error-code'), 'INVALID_IMAGE');
    });

    it('answers 404 for an unknown model or version, with {"error"}', async () => {
      for (const path of ['/v2/models/no-such-model/infer', `/v2/models/${MODEL}/versions/9/infer`]) {
        const answer = await v2(gw.http, path, { inputs: [fp32Input([tensors[0]!])] });
        assert.equal(answer.status, 404, path);
        assert.deepEqual(Object.keys(answer.json), ['error']);
      }
      assert.equal((await v2(gw.http, '/v2/models/no-such-model')).status, 404);
      assert.equal((await v2(gw.http, '/v2/models/no-such-model/ready')).status, 404);
    });

    it('honours x-request-timeout-ms: a deadline that cannot be met is 504 before inference', async () => {
      const answer = await v2(gw.http, `/v2/models/${MODEL}/infer`, { inputs: [fp32Input([tensors[0]!])] }, { 'x-request-timeout-ms': '0.001' });
      assert.equal(answer.status, 504);
      assert.equal(answer.headers.get('x-error-code'), 'DEADLINE_EXCEEDED');
      assert.match(answer.json['error'] as string, /deadline/i);
    });
  });

  it('puts v2 rows into shared batches with concurrent /v1 and v2 requests', async () => {
    const before = await gw.metrics();
    const count0 = metricValue(before, 'gateway_batch_size_count', { model: BATCHED });
    const sum0 = metricValue(before, 'gateway_batch_size_sum', { model: BATCHED });
    // 1 /v1 image + 5 single-row v2 requests + one 2-row v2 request = 8 rows (maxBatchSize 8).
    const [classic, ...tensorAnswers] = await Promise.all([
      postImage(gw.http, `model=${BATCHED}`, pngs[0]!),
      ...Array.from({ length: 5 }, (_, i) => v2(gw.http, `/v2/models/${BATCHED}/infer`, { inputs: [fp32Input([tensors[i % 3]!])] })),
      v2(gw.http, `/v2/models/${BATCHED}/infer`, { inputs: [fp32Input([tensors[1]!, tensors[2]!])] }),
    ]);
    assert.equal(classic.status, 200);
    assert.ok(tensorAnswers.every((a) => a.status === 200));
    // The /v1 request shared its batch with v2 rows.
    assert.ok((classic.json['batch_size'] as number) > 1, `v1 batch size ${String(classic.json['batch_size'])}`);
    const after = await gw.metrics();
    const batches = metricValue(after, 'gateway_batch_size_count', { model: BATCHED }) - count0;
    const rows = metricValue(after, 'gateway_batch_size_sum', { model: BATCHED }) - sum0;
    assert.equal(rows, 8);
    assert.ok(rows / batches > 1, `mean batch ${rows / batches}`);
    assert.equal(argmax((tensorAnswers[5]!.json['outputs'] as V2Output[])[0]!.data!.slice(64) as number[]), v1[2]!.top);
    assert.ok(metricValue(after, 'gateway_requests_total', { model: BATCHED, protocol: 'http-v2', outcome: 'ok' }) >= 6);
  });

  describe('gRPC inference.GRPCInferenceService', () => {
    it('answers an independent client (python3-grpcio, stubs from grpc_tools.protoc) like /v1/classify', async () => {
      const stubs = await mkdtemp(join(tmpdir(), 'kserve-stubs-'));
      try {
        await run(PYTHON, ['-c', 'import grpc, grpc_tools']).catch((err: Error) => {
          throw new Error(`${PYTHON} lacks grpc / grpc_tools (Debian python3-grpcio, python3-grpc-tools; run scripts/install-system-deps.sh): ${err.message}`);
        });
        await run(PYTHON, ['-m', 'grpc_tools.protoc', '-I', join(REPO_ROOT, 'proto', 'kserve'), `--python_out=${stubs}`, `--grpc_python_out=${stubs}`, 'grpc_predict_v2.proto']);
        const tensorFile = join(stubs, 'input.f32');
        const row = tensors[0]!;
        await writeFile(tensorFile, Buffer.from(row.buffer, row.byteOffset, row.byteLength)); // little-endian host, as the protocol wants
        // Asynchronous: the gateway runs in this process and must keep serving while Python calls it.
        const { stdout } = await run(PYTHON, [
          join(REPO_ROOT, 'test', 'kserve', 'client.py'),
          '--target', `127.0.0.1:${gw.gateway.grpcPort}`,
          '--stubs', stubs,
          '--model', MODEL,
          '--tensor', tensorFile,
          '--shape', '1,3,64,64',
          '--image', join(GOLDEN, '0.png'),
        ]);
        const out = JSON.parse(stdout) as {
          live: boolean;
          ready: boolean;
          model_ready: boolean;
          server: Json;
          model: Json;
          raw: { model_name: string; model_version: string; id: string; output: Json; typed_contents: number; values: number[] };
          typed: { raw_outputs: number; values: number[] };
          image: { datatype: string; shape: number[]; classes: string[] };
          errors: Record<string, { code: string; details?: string }>;
        };
        assert.deepEqual([out.live, out.ready, out.model_ready], [true, true, true]);
        assert.deepEqual(out.server['extensions'], ['binary_tensor_data', 'classification']);
        assert.deepEqual(out.model, {
          name: MODEL,
          versions: ['1'],
          platform: 'onnxruntime_onnx',
          inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 3, 64, 64] }],
          outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 64] }],
        });
        // raw_input_contents in -> raw_output_contents out, as Triton answers.
        assert.deepEqual(
          { model_name: out.raw.model_name, model_version: out.raw.model_version, id: out.raw.id, output: out.raw.output, typed: out.raw.typed_contents },
          { model_name: MODEL, model_version: '1', id: 'raw-1', output: { name: 'logits', datatype: 'FP32', shape: [1, 64] }, typed: 0 },
        );
        assert.equal(out.raw.values.length, 64);
        assert.equal(argmax(out.raw.values), v1[0]!.top);
        softmax(out.raw.values).forEach((p, i) => assert.ok(Math.abs(p - v1[0]!.scores.get(i)!) < 1e-4, `class ${i}`));
        // Typed fp32_contents in -> typed contents out, same numbers.
        assert.equal(out.typed.raw_outputs, 0);
        out.typed.values.forEach((v, i) => assert.ok(Math.abs(v - out.raw.values[i]!) < 1e-4));
        // An encoded image as BYTES, classification extension.
        assert.deepEqual([out.image.datatype, out.image.shape], ['BYTES', [1, 3]]);
        assert.deepEqual(out.image.classes[0]!.split(':').slice(1), [String(v1[0]!.top), v1[0]!.label]);
        // Errors map through the catalog to gRPC status codes.
        assert.equal(out.errors['unknown_model']!.code, 'NOT_FOUND');
        assert.equal(out.errors['bad_shape']!.code, 'INVALID_ARGUMENT');
        assert.match(out.errors['bad_shape']!.details ?? '', /has shape \[1, 3, 64, 65\]; the model takes \[-1, 3, 64, 64\]/);
      } finally {
        await rm(stubs, { recursive: true, force: true });
      }
      const text = await gw.metrics();
      assert.ok(metricValue(text, 'gateway_requests_total', { model: MODEL, protocol: 'grpc-v2', outcome: 'ok' }) >= 3);
    });

    it('is listed by server reflection beside gateway.v1', async () => {
      const services = await reflectionServices(`127.0.0.1:${gw.gateway.grpcPort}`);
      assert.ok(services.includes('inference.GRPCInferenceService'), services.join(', '));
      assert.ok(services.includes('gateway.v1.InferenceGateway'), services.join(', '));
    });
  });

  it('drains: 503 / UNAVAILABLE for new inference, not ready, still live', async () => {
    const client = kserveClient(`127.0.0.1:${gw.gateway.grpcPort}`);
    gw.gateway.services.scope.draining = true; // what shutdown() sets first
    try {
      const answer = await v2(gw.http, `/v2/models/${MODEL}/infer`, { inputs: [fp32Input([tensors[0]!])] });
      assert.equal(answer.status, 503);
      assert.equal(answer.headers.get('x-error-code'), 'SHUTTING_DOWN');
      assert.ok(answer.headers.get('retry-after'));
      assert.equal((await v2(gw.http, '/v2/health/ready')).status, 400);
      assert.equal((await v2(gw.http, `/v2/models/${MODEL}/ready`)).status, 400);
      assert.equal((await v2(gw.http, '/v2/health/live')).status, 200);
      assert.deepEqual(await unary(client, 'ServerReady', {}), { ready: false });
      assert.deepEqual(await unary(client, 'ServerLive', {}), { live: true });
      await assert.rejects(unary(client, 'ModelInfer', { model_name: MODEL, inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 64, 64] }], raw_input_contents: [Buffer.alloc(12288 * 4)] }), (err: grpc.ServiceError) => err.code === grpc.status.UNAVAILABLE);
    } finally {
      gw.gateway.services.scope.draining = false;
      client.close();
    }
  });
});

describe('KServe v2 protocol with API keys and a small body limit', () => {
  const KEY = 'kserve-test-key-0123456789';
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway(await makeRepository([{ from: join(ZOO_MODELS, MODEL) }, { from: join(ZOO_MODELS, MODEL), as: 'private' }]), {
      apiKeys: [{ name: 'v2', sha256: hashApiKey(KEY), models: [MODEL], requestsPerSecond: 0, burst: 10 }],
      // v2 bodies may be ceil(64 KiB x 4/3) + 64 KiB = 152 918 bytes here.
      maxImageBytes: 64 * 1024,
    });
  });
  after(() => gw.stop());

  it('needs a key for model calls over HTTP and gRPC, health stays open, and big bodies get 413', async () => {
    const body = { inputs: [{ name: 'input', shape: [1, 3, 64, 64], datatype: 'FP32', data: new Array<number>(12288).fill(0) }] };
    const none = await v2(gw.http, `/v2/models/${MODEL}/infer`, body);
    assert.equal(none.status, 401);
    assert.deepEqual(Object.keys(none.json), ['error']);
    assert.equal((await v2(gw.http, `/v2/models/${MODEL}`)).status, 401);
    const auth = { authorization: `Bearer ${KEY}` };
    assert.equal((await v2(gw.http, `/v2/models/${MODEL}/infer`, body, auth)).status, 200);
    assert.equal((await v2(gw.http, '/v2/models/private/infer', body, auth)).status, 403);
    assert.equal((await v2(gw.http, '/v2/models/private/ready', undefined, auth)).status, 403);
    assert.equal((await v2(gw.http, '/v2/health/ready')).status, 200);
    assert.equal((await v2(gw.http, '/v2/health/live')).status, 200);

    const tooBig = await v2(gw.http, `/v2/models/${MODEL}/infer`, { inputs: [{ name: 'input', shape: [8, 3, 64, 64], datatype: 'FP32', data: new Array<number>(8 * 12288).fill(0) }] }, auth);
    assert.equal(tooBig.status, 413);
    assert.match(tooBig.json['error'] as string, /request body is larger than the limit of 152918 bytes/);

    const client = kserveClient(`127.0.0.1:${gw.gateway.grpcPort}`);
    try {
      assert.deepEqual(await unary(client, 'ServerReady', {}), { ready: true });
      await assert.rejects(unary(client, 'ModelMetadata', { name: MODEL }), (err: grpc.ServiceError) => err.code === grpc.status.UNAUTHENTICATED);
      const metadata = new grpc.Metadata();
      metadata.set('authorization', `Bearer ${KEY}`);
      const meta = (await unary(client, 'ModelMetadata', { name: MODEL }, metadata)) as { name: string };
      assert.equal(meta.name, MODEL);
      await assert.rejects(unary(client, 'ModelReady', { name: 'private' }, metadata), (err: grpc.ServiceError) => err.code === grpc.status.PERMISSION_DENIED);
    } finally {
      client.close();
    }
  });
});

type KServeClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

function kserveClient(address: string): KServeClient {
  const { grpcObject } = loadKServeProto();
  const Ctor = (grpcObject['inference'] as grpc.GrpcObject)['GRPCInferenceService'] as grpc.ServiceClientConstructor;
  return new Ctor(address, grpc.credentials.createInsecure()) as unknown as KServeClient;
}

function unary(client: KServeClient, method: string, request: object, metadata = new grpc.Metadata()): Promise<unknown> {
  return new Promise((resolve, reject) => {
    client[method]!(request, metadata, (err: grpc.ServiceError | null, reply: unknown) => (err ? reject(err) : resolve(reply)));
  });
}
