// Kind `tensor` end to end on the real gateway: any ONNX graph served over KServe v2 with its I/O
// read from the graph. Every datatype round-trips through real Identity graphs over the four wire
// forms (REST JSON, REST binary extension, gRPC typed and raw contents); onnxruntime's MatMul
// quick-start graph from a bare {"kind": "tensor"} manifest; a two-output detector compared with
// onnxruntime called directly; output selection and per-output binary_data; and every request
// check as a 400 / INVALID_ARGUMENT naming the input (table-driven).
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as ort from 'onnxruntime-node';
import { float16ToNumber, numberToFloat16 } from '../../src/models/dtypes.js';
import { FIXTURE_MODELS, type TestGateway, makeRepository, startTestGateway } from '../helpers/gateway.js';
import { type KServeClient, type Tensor, WIRES, batches, infer, kserveClient, unary } from '../helpers/kserve.js';

/** Values per datatype for a [2, 3] tensor, at the edges of each type's range (FP16 as bit patterns). */
const VALUES: Record<string, readonly (number | bigint | boolean | string)[]> = {
  BOOL: [true, false, true, false, false, true],
  UINT8: [0, 1, 2, 127, 128, 255],
  UINT16: [0, 1, 2, 32767, 32768, 65535],
  UINT32: [0, 1, 2, 2147483647, 2147483648, 4294967295],
  UINT64: [0n, 1n, 2n, 9007199254740993n, 9223372036854775808n, 18446744073709551615n],
  INT8: [-128, -1, 0, 1, 2, 127],
  INT16: [-32768, -1, 0, 1, 2, 32767],
  INT32: [-2147483648, -1, 0, 1, 2, 2147483647],
  INT64: [-9223372036854775808n, -9007199254740993n, -1n, 0n, 9007199254740993n, 9223372036854775807n],
  FP16: [0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000, 0x3555], // 1, -2, 65504, smallest subnormal, -0, 0.333
  FP32: [1.5, -2.25, 3.4028234663852886e38, 1.401298464324817e-45, 0, 0.10000000149011612],
  FP64: [1.5, -2.25, 1.7976931348623157e308, 5e-324, 0, 0.1],
  BYTES: ['a', 'héllo', '', 'ünïcödé ✓', 'x'.repeat(100), '0'],
};
const TORCH_TYPES = ['BOOL', 'UINT8', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64'];
const ONNX_TYPES = ['UINT16', 'UINT32', 'UINT64', 'BYTES'];

describe('kind tensor over KServe v2', () => {
  let gw: TestGateway;
  let grpcClient: KServeClient;
  let target: { http: string; grpc: KServeClient };

  before(async () => {
    const root = await makeRepository([
      { from: join(FIXTURE_MODELS, 'tensor-dtypes') },
      { from: join(FIXTURE_MODELS, 'tensor-dtypes-onnx') },
      { from: join(FIXTURE_MODELS, 'matmul') },
      { from: join(FIXTURE_MODELS, 'tiny-detector') },
    ]);
    // The whole manifest a user writes for the quick-start graph.
    await writeFile(join(root, 'matmul', 'model.json'), '{"kind": "tensor"}\n');
    gw = await startTestGateway(root);
    grpcClient = kserveClient(`127.0.0.1:${gw.gateway.grpcPort}`);
    target = { http: gw.http, grpc: grpcClient };
  });
  after(async () => {
    grpcClient.close();
    await gw.stop();
  });

  describe('every datatype round-trips through an Identity graph', () => {
    for (const wire of WIRES) {
      for (const [model, types] of [
        ['tensor-dtypes', TORCH_TYPES],
        ['tensor-dtypes-onnx', ONNX_TYPES],
      ] as const) {
        // FP16 has no typed contents field: over gRPC typed contents it cannot be sent (tested below).
        const sent = types.filter((t) => !(wire === 'grpc-typed' && t === 'FP16'));
        if (sent.length !== types.length) continue;
        it(`${model} over ${wire}: ${types.join(', ')}`, async () => {
          const inputs: Tensor[] = types.map((t) => ({ name: `x_${t.toLowerCase()}`, datatype: t, shape: [2, 3], data: VALUES[t]! }));
          const answer = await infer(wire, target, model, inputs, { fp16ToNumber: float16ToNumber });
          assert.deepEqual(
            answer.outputs.map((o) => o.name),
            types.map((t) => `y_${t.toLowerCase()}`),
          );
          for (const [i, t] of types.entries()) {
            const out = answer.outputs[i]!;
            assert.equal(out.datatype, t);
            assert.deepEqual(out.shape, [2, 3]);
            // FP16 answers in JSON are numbers; everywhere else its bit patterns.
            // JSON numbers carry no negative zero.
            const expected = t === 'FP16' && wire === 'http-json' ? VALUES[t]!.map((b) => float16ToNumber(Number(b)) || 0) : VALUES[t]!;
            assert.deepEqual(out.data, expected, `${t} over ${wire}`);
          }
        });
      }
    }

    it('FP16 over gRPC goes raw: typed contents are refused with the reason, answers come raw', async () => {
      const fp16 = { name: 'x_fp16', datatype: 'FP16', shape: ['1', '3'], contents: { fp32_contents: [1, 2, 3] } };
      const rest = TORCH_TYPES.filter((t) => t !== 'FP16').map((t) => ({ name: `x_${t.toLowerCase()}`, datatype: t, shape: ['1', '3'], contents: { [typedField(t)]: VALUES[t]!.slice(0, 3).map((v) => (typeof v === 'bigint' ? v.toString() : v)) } }));
      await assert.rejects(unary(grpcClient, 'ModelInfer', { model_name: 'tensor-dtypes', inputs: [...rest, fp16] }), (err: grpc.ServiceError) => {
        assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
        assert.match(err.details, /input "x_fp16" is FP16, which has no typed contents field; send it in raw_input_contents/);
        return true;
      });
    });

    it('FP16 JSON numbers are rounded to the nearest half-precision value', async () => {
      const inputs: Tensor[] = TORCH_TYPES.map((t) => ({ name: `x_${t.toLowerCase()}`, datatype: t, shape: [1, 3], data: VALUES[t]!.slice(0, 3) }));
      const fp16 = inputs.findIndex((t) => t.datatype === 'FP16');
      inputs[fp16] = { ...inputs[fp16]!, data: [0.1, 1 / 3, 70000] };
      const answer = await infer('http-json', target, 'tensor-dtypes', inputs, { outputs: ['y_fp16'], fp16ToNumber: (x) => x });
      assert.deepEqual(answer.outputs[0]!.data, [float16ToNumber(numberToFloat16(0.1)), float16ToNumber(numberToFloat16(1 / 3)), Infinity].map((v) => (Number.isFinite(v) ? v : null)));
    });
  });

  describe('the MatMul quick-start graph from {"kind": "tensor"}', () => {
    const a: Tensor = { name: 'a', datatype: 'FP32', shape: [3, 4], data: Array.from({ length: 12 }, (_, i) => i + 1) };
    const b: Tensor = { name: 'b', datatype: 'FP32', shape: [4, 3], data: Array.from({ length: 12 }, (_, i) => (i + 1) * 10) };
    const c = [700, 800, 900, 1580, 1840, 2100, 2460, 2880, 3300];

    for (const wire of WIRES) {
      it(`c = a @ b over ${wire}`, async () => {
        const answer = await infer(wire, target, 'matmul', [a, b]);
        assert.deepEqual(answer.outputs, [{ name: 'c', datatype: 'FP32', shape: [3, 3], data: c }]);
      });
    }

    it('shows the graph\'s I/O in KServe metadata (HTTP and gRPC), /v1/models and ListModels', async () => {
      const expected = {
        name: 'matmul',
        versions: ['1'],
        platform: 'onnxruntime_onnx',
        inputs: [
          { name: 'a', datatype: 'FP32', shape: [3, 4] },
          { name: 'b', datatype: 'FP32', shape: [4, 3] },
        ],
        outputs: [{ name: 'c', datatype: 'FP32', shape: [3, 3] }],
      };
      assert.deepEqual(await (await fetch(`${gw.http}/v2/models/matmul`)).json(), expected);
      const meta = (await unary(grpcClient, 'ModelMetadata', { name: 'matmul' })) as { inputs: { name: string; datatype: string; shape: string[] }[] };
      assert.deepEqual(
        meta.inputs.map((i) => ({ ...i, shape: i.shape.map(Number) })),
        expected.inputs,
      );
      const v1 = (await (await fetch(`${gw.http}/v1/models/matmul`)).json()) as { kind: string; versions: { info: { tensors: unknown; batching: { maxBatchSize: number } } }[] };
      assert.equal(v1.kind, 'tensor');
      assert.deepEqual(v1.versions[0]!.info.tensors, { inputs: expected.inputs, outputs: expected.outputs, batchAxis: 'none' });
      assert.equal(v1.versions[0]!.info.batching.maxBatchSize, 1);
      const detector = (await (await fetch(`${gw.http}/v2/models/tiny-detector`)).json()) as { inputs: unknown; outputs: unknown };
      assert.deepEqual(detector.inputs, [{ name: 'image', datatype: 'FP32', shape: [-1, 3, 16, 16] }]);
      assert.deepEqual(detector.outputs, [
        { name: 'boxes', datatype: 'FP32', shape: [-1, 4, 4] },
        { name: 'scores', datatype: 'FP32', shape: [-1, 4] },
      ]);
      const list = (await gw.client.listModels()) as unknown as { models: { name: string; kind: string; versions: { inputs: { name: string; shape: string[] }[]; batch_axis: string }[] }[] };
      const listed = list.models.find((m) => m.name === 'tiny-detector')!;
      assert.equal(listed.kind, 'tensor');
      assert.equal(listed.versions[0]!.batch_axis, 'dynamic');
      assert.deepEqual(listed.versions[0]!.inputs.map((i) => [i.name, i.shape.map(Number)]), [['image', [-1, 3, 16, 16]]]);
    });
  });

  describe('a two-output detector', () => {
    const images = (n: number): Tensor => ({ name: 'image', datatype: 'FP32', shape: [n, 3, 16, 16], data: Array.from({ length: n * 768 }, (_, i) => Math.fround(Math.sin(i * 0.37) * 2)) });
    let reference: Record<string, ort.Tensor>;

    before(async () => {
      const session = await ort.InferenceSession.create(join(FIXTURE_MODELS, 'tiny-detector', '1', 'model.onnx'));
      reference = await session.run({ image: new ort.Tensor('float32', Float32Array.from(images(3).data as number[]), [3, 3, 16, 16]) });
      await session.release();
    });

    for (const wire of WIRES) {
      it(`answers both outputs with their shapes and onnxruntime's values over ${wire}`, async () => {
        const answer = await infer(wire, target, 'tiny-detector', [images(3)]);
        assert.deepEqual(
          answer.outputs.map((o) => [o.name, o.shape]),
          [
            ['boxes', [3, 4, 4]],
            ['scores', [3, 4]],
          ],
        );
        for (const o of answer.outputs) assertClose(o.data as number[], reference[o.name]!.data as Float32Array, o.name);
      });
    }

    it('answers only the outputs asked for, in the order asked, each JSON or binary as asked', async () => {
      const one = await infer('http-json', target, 'tiny-detector', [images(3)], { outputs: ['scores'] });
      assert.deepEqual(one.outputs.map((o) => o.name), ['scores']);
      const both = await infer('http-binary', target, 'tiny-detector', [images(3)], { outputs: ['scores', 'boxes'], binary: (name) => name === 'boxes' });
      assert.deepEqual(both.outputs.map((o) => [o.name, o.shape]), [['scores', [3, 4]], ['boxes', [3, 4, 4]]]);
      assertClose(both.outputs[0]!.data as number[], reference['scores']!.data as Float32Array, 'scores (JSON)');
      assertClose(both.outputs[1]!.data as number[], reference['boxes']!.data as Float32Array, 'boxes (binary)');
      // The raw response: scores as JSON data, boxes as binary data only.
      const header = Buffer.from(JSON.stringify({ inputs: [{ ...images(1), data: images(1).data }], outputs: [{ name: 'boxes', parameters: { binary_data: true } }, { name: 'scores', parameters: { binary_data: false } }] }));
      const res = await fetch(`${gw.http}/v2/models/tiny-detector/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: header });
      const length = Number(res.headers.get('inference-header-content-length'));
      const body = Buffer.from(await res.arrayBuffer());
      const json = JSON.parse(body.subarray(0, length).toString()) as { outputs: { name: string; data?: number[]; parameters?: { binary_data_size: number } }[] };
      assert.deepEqual(json.outputs.map((o) => [o.name, o.parameters?.binary_data_size, o.data?.length]), [['boxes', 64, undefined], ['scores', undefined, 4]]);
      assert.equal(body.length - length, 64);
    });
  });

  describe('requests are checked before any compute', () => {
    const matmulA: Tensor = { name: 'a', datatype: 'FP32', shape: [3, 4], data: new Array<number>(12).fill(1) };
    const matmulB: Tensor = { name: 'b', datatype: 'FP32', shape: [4, 3], data: new Array<number>(12).fill(1) };
    const image = (shape: number[], data = new Array<number>(shape.reduce((x, y) => x * y, 1)).fill(0)): Tensor => ({ name: 'image', datatype: 'FP32', shape, data });
    const cases: { name: string; model: string; inputs: Tensor[]; outputs?: string[]; error: RegExp; httpOnly?: boolean }[] = [
      { name: 'a missing input', model: 'matmul', inputs: [matmulA], error: /missing input "b" \(FP32 \[4, 3\]\); model "matmul" takes "a" \(FP32 \[3, 4\]\), "b" \(FP32 \[4, 3\]\)/ },
      { name: 'an extra input', model: 'matmul', inputs: [matmulA, matmulB, { ...matmulB, name: 'z' }], error: /unknown input "z"; model "matmul" takes "a"/ },
      { name: 'an input twice', model: 'matmul', inputs: [matmulA, matmulA, matmulB], error: /input "a" is given twice/ },
      { name: 'a wrong datatype', model: 'matmul', inputs: [{ ...matmulA, datatype: 'FP64' }, matmulB], error: /input "a" has datatype FP64; the model takes FP32/ },
      { name: 'a wrong rank', model: 'matmul', inputs: [{ ...matmulA, shape: [12] }, matmulB], error: /input "a" has shape \[12\] \(rank 1\); the model takes \[3, 4\] \(rank 2/ },
      { name: 'a wrong fixed dimension', model: 'matmul', inputs: [{ ...matmulA, shape: [4, 3] }, matmulB], error: /input "a" has shape \[4, 3\]; the model takes \[3, 4\] \(dimension 0 must be 3\)/ },
      { name: 'a wrong dimension after the batch axis', model: 'tiny-detector', inputs: [image([1, 3, 16, 15])], error: /input "image" has shape \[1, 3, 16, 15\]; the model takes \[-1, 3, 16, 16\] \(dimension 3 must be 16\)/ },
      { name: 'an empty batch', model: 'tiny-detector', inputs: [image([0, 3, 16, 16], [])], error: /input "image" has shape \[0, 3, 16, 16\]; its batch dimension \(dimension 0\) must be from 1 to 128/ },
      { name: 'a batch beyond the queue', model: 'tiny-detector', inputs: [image([129, 3, 16, 16], [])], error: /must be from 1 to 128 \(the model's maxQueueSize\)/ },
      { name: 'data shorter than the shape', model: 'tiny-detector', inputs: [image([2, 3, 16, 16], new Array<number>(767).fill(0))], error: /input "image" has 767 values in (data|contents.fp32_contents); its shape needs 1536/ },
      { name: 'data longer than the shape', model: 'matmul', inputs: [{ ...matmulA, data: new Array<number>(13).fill(1) }, matmulB], error: /input "a" has 13 values in (data|contents.fp32_contents); its shape needs 12/ },
      { name: 'a JSON value of the wrong type', model: 'matmul', inputs: [{ ...matmulA, data: [...new Array<number>(11).fill(1), true] }, matmulB], error: /input "a" data\[11\] is boolean true; FP32 data must be numbers/, httpOnly: true },
      { name: 'an unknown output', model: 'tiny-detector', inputs: [image([1, 3, 16, 16])], outputs: ['masks'], error: /unknown output "masks"; model "tiny-detector" produces "boxes" \(FP32 \[-1, 4, 4\]\), "scores" \(FP32 \[-1, 4\]\)/ },
    ];
    for (const c of cases) {
      it(`refuses ${c.name} (HTTP 400 and gRPC INVALID_ARGUMENT)`, async () => {
        const before = await gw.metrics();
        for (const wire of c.httpOnly ? (['http-json'] as const) : (['http-json', 'grpc-typed'] as const)) {
          await assert.rejects(infer(wire, target, c.model, c.inputs, c.outputs ? { outputs: c.outputs } : {}), (err: Error & { status?: number; code?: unknown; details?: string }) => {
            if (wire === 'http-json') {
              assert.equal(err.status, 400, err.message);
              assert.match((JSON.parse(err.message) as { error: string }).error, c.error);
            } else {
              assert.equal(err.code, grpc.status.INVALID_ARGUMENT, err.message);
              assert.match(err.details!, c.error);
            }
            return true;
          });
        }
        // Nothing ran: no batch was formed for a refused request.
        assert.equal(batches(await gw.metrics(), c.model), batches(before, c.model));
      });
    }

    it('refuses a short raw buffer (no bytes of other requests can leak into it)', async () => {
      const short = Buffer.alloc(4 * 767);
      const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'image', datatype: 'FP32', shape: [1, 3, 16, 16], parameters: { binary_data_size: short.length } }] }));
      const res = await fetch(`${gw.http}/v2/models/tiny-detector/infer`, { method: 'POST', headers: { 'inference-header-content-length': String(header.length) }, body: Buffer.concat([header, short]) });
      assert.equal(res.status, 400);
      assert.match(((await res.json()) as { error: string }).error, /input "image" has 3068 bytes of raw contents; its shape needs 768 FP32 values = 3072 bytes/);
    });
  });
});

function typedField(datatype: string): string {
  return { BOOL: 'bool_contents', UINT8: 'uint_contents', INT8: 'int_contents', INT16: 'int_contents', INT32: 'int_contents', INT64: 'int64_contents', FP32: 'fp32_contents', FP64: 'fp64_contents' }[datatype]!;
}

/** Float32 outputs equal to onnxruntime's within float32 rounding of a different batch size's kernels. */
function assertClose(actual: readonly number[], expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < actual.length; i++) assert.ok(Math.abs(actual[i]! - expected[i]!) <= 1e-6, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
}
