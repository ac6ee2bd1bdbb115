// A tensor model's I/O from the graph (types, dynamic dimensions, manifest narrowing), its batch
// mode, and the request checks made before any compute, table-driven.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayError } from '../../src/errors.js';
import type { IoInfo } from '../../src/models/ort.js';
import { type InputHead, type IoOverrides, type TensorModelIo, batchModeOf, checkInputs, readTensorIo, selectOutputs } from '../../src/models/tensor-io.js';

const io = (inputs: IoInfo[], outputs: IoInfo[], overrides?: IoOverrides): TensorModelIo => readTensorIo(inputs, outputs, overrides);
const t = (name: string, type: string, shape: (number | string)[]): IoInfo => ({ name, type, shape });

describe('readTensorIo()', () => {
  it('reads names, datatypes and shapes, symbolic and unknown dimensions as -1', () => {
    const model = io([t('x', 'float16', ['batch', 3]), t('ids', 'int64', [-1, 'seq'])], [t('y', 'string', ['batch']), t('b', 'bool', ['batch', 2])]);
    assert.deepEqual(model.inputs, [
      { name: 'x', datatype: 'FP16', shape: [-1, 3] },
      { name: 'ids', datatype: 'INT64', shape: [-1, -1] },
    ]);
    assert.deepEqual(model.outputs, [
      { name: 'y', datatype: 'BYTES', shape: [-1] },
      { name: 'b', datatype: 'BOOL', shape: [-1, 2] },
    ]);
    assert.deepEqual(model.batch, { kind: 'dynamic' });
  });

  const modes: [string, IoInfo[], IoInfo[], TensorModelIo['batch']][] = [
    ['every first dimension dynamic', [t('a', 'float32', ['n', 2]), t('b', 'int32', [-1])], [t('y', 'float32', ['n'])], { kind: 'dynamic' }],
    ['all the same fixed N', [t('a', 'float32', [4, 5])], [t('y', 'float32', [4, 2])], { kind: 'fixed', size: 4 }],
    ['different fixed first dimensions (MatMul)', [t('a', 'float32', [3, 4]), t('b', 'float32', [4, 3])], [t('c', 'float32', [3, 3])], { kind: 'none' }],
    ['an output without a batch axis', [t('a', 'float32', ['n', 2])], [t('total', 'float32', [1])], { kind: 'none' }],
    ['a scalar input', [t('a', 'float32', ['n', 2]), t('k', 'int64', [])], [t('y', 'float32', ['n'])], { kind: 'none' }],
    ['a fixed input beside a dynamic one', [t('a', 'float32', ['n', 2]), t('b', 'float32', [2, 2])], [t('y', 'float32', ['n'])], { kind: 'none' }],
  ];
  for (const [name, inputs, outputs, mode] of modes) {
    it(`batch mode: ${name}`, () => assert.deepEqual(io(inputs, outputs).batch, mode));
  }

  it('lets the manifest fix dynamic dimensions, pick outputs and turn batching off', () => {
    const graph: [IoInfo[], IoInfo[]] = [[t('x', 'float32', ['n', 'len'])], [t('y', 'float32', ['n', 'len']), t('s', 'float32', ['n'])]];
    const model = io(...graph, { inputs: [{ name: 'x', shape: [-1, 8] }], outputs: [{ name: 's' }] });
    assert.deepEqual(model.inputs[0]!.shape, [-1, 8]);
    assert.deepEqual(model.outputs.map((o) => o.name), ['s']);
    assert.deepEqual(io(...graph, { batchAxis: 'none' }).batch, { kind: 'none' });
    assert.equal(batchModeOf(model.inputs, model.outputs).kind, 'dynamic');
  });

  const refusals: [string, IoInfo[], IoInfo[], IoOverrides, RegExp][] = [
    ['a type KServe cannot carry', [t('x', 'bfloat16', [1])], [t('y', 'float32', [1])], {}, /graph input "x" is of type bfloat16, which KServe v2 cannot carry/],
    ['an unknown manifest input', [t('x', 'float32', [1])], [t('y', 'float32', [1])], { inputs: [{ name: 'z' }] }, /manifest input "z" is not a graph input; the graph's inputs are x/],
    ['a manifest leaving out an input', [t('x', 'float32', [1]), t('w', 'float32', [1])], [t('y', 'float32', [1])], { inputs: [{ name: 'x' }] }, /leave out graph inputs w; every graph input must be fed/],
    ['another datatype', [t('x', 'float32', [1])], [t('y', 'float32', [1])], { inputs: [{ name: 'x', datatype: 'FP64' }] }, /manifest input "x" says FP64; the graph has FP32/],
    ['a changed fixed dimension', [t('x', 'float32', ['n', 3])], [t('y', 'float32', ['n'])], { inputs: [{ name: 'x', shape: [-1, 4] }] }, /has shape \[-1, 4\]; the graph's is \[-1, 3\] \(a manifest may only fix dynamic dimensions\)/],
    ['another rank', [t('x', 'float32', ['n', 3])], [t('y', 'float32', ['n'])], { inputs: [{ name: 'x', shape: [-1] }] }, /has shape \[-1\]; the graph's is \[-1, 3\]/],
    ['an unknown output', [t('x', 'float32', [1])], [t('y', 'float32', [1])], { outputs: [{ name: 'q' }] }, /manifest output "q" is not a graph output/],
    ['a name twice', [t('x', 'float32', [1])], [t('y', 'float32', [1])], { outputs: [{ name: 'y' }, { name: 'y' }] }, /manifest outputs name "y" twice/],
  ];
  for (const [name, inputs, outputs, overrides, error] of refusals) {
    it(`refuses ${name}`, () => assert.throws(() => io(inputs, outputs, overrides), error));
  }
});

describe('checkInputs()', () => {
  const dynamic = io([t('x', 'float32', ['n', 'len']), t('w', 'float32', ['n', 'len']), t('k', 'int64', ['n', 2])], [t('y', 'float32', ['n', 'len'])]);
  const fixed = io([t('x', 'float32', [4, 5])], [t('y', 'float32', [4, 2])]);
  const none = io([t('a', 'float32', [3, 4]), t('b', 'float32', [4, -1])], [t('c', 'float32', [3, -1])]);
  const head = (name: string, shape: number[], datatype = 'FP32'): InputHead => ({ name, datatype, shape });
  const ok = [head('x', [2, 7]), head('w', [2, 7]), head('k', [2, 2], 'INT64')];

  it('answers the rows and a shape key (equal for requests that may share a batch)', () => {
    assert.deepEqual(checkInputs(dynamic, 'm', ok, 16), { rows: 2, shapeKey: '7;7;2' });
    assert.deepEqual(checkInputs(dynamic, 'm', [head('k', [5, 2], 'INT64'), head('w', [5, 7]), head('x', [5, 7])], 16), { rows: 5, shapeKey: '7;7;2' });
    assert.notEqual(checkInputs(dynamic, 'm', [head('x', [1, 8]), head('w', [1, 8]), head('k', [1, 2], 'INT64')], 16).shapeKey, '7;7;2');
    assert.equal(checkInputs(fixed, 'm', [head('x', [3, 5])], 16).rows, 3);
    assert.equal(checkInputs(none, 'm', [head('a', [3, 4]), head('b', [4, 9])], 16).rows, 1);
  });

  const cases: [string, TensorModelIo, InputHead[], number, RegExp][] = [
    ['a missing input', dynamic, ok.slice(0, 2), 16, /^missing input "k" \(INT64 \[-1, 2\]\); model "m" takes "x" \(FP32 \[-1, -1\]\), "w" \(FP32 \[-1, -1\]\), "k" \(INT64 \[-1, 2\]\)$/],
    ['two missing inputs', dynamic, ok.slice(0, 1), 16, /^missing inputs "w" \(FP32 \[-1, -1\]\), "k"/],
    ['an unknown input', dynamic, [...ok, head('z', [2])], 16, /^unknown input "z"; model "m" takes/],
    ['an input twice', dynamic, [...ok, head('x', [2, 7])], 16, /^input "x" is given twice/],
    ['a wrong datatype', dynamic, [head('x', [2, 7]), head('w', [2, 7]), head('k', [2, 2], 'INT32')], 16, /^input "k" has datatype INT32; the model takes INT64$/],
    ['a wrong rank', dynamic, [head('x', [2, 7, 1]), head('w', [2, 7]), head('k', [2, 2], 'INT64')], 16, /^input "x" has shape \[2, 7, 1\] \(rank 3\); the model takes \[-1, -1\] \(rank 2, -1 = any size\)$/],
    ['a wrong fixed dimension', dynamic, [head('x', [2, 7]), head('w', [2, 7]), head('k', [2, 3], 'INT64')], 16, /^input "k" has shape \[2, 3\]; the model takes \[-1, 2\] \(dimension 1 must be 2\)$/],
    ['rows that differ between inputs', dynamic, [head('x', [2, 7]), head('w', [3, 7]), head('k', [2, 2], 'INT64')], 16, /^input "w" has 3 rows \(shape \[3, 7\]\) but input "x" has 2; every input needs the same batch dimension$/],
    ['no rows', dynamic, [head('x', [0, 7]), head('w', [0, 7]), head('k', [0, 2], 'INT64')], 16, /^input "x" has shape \[0, 7\]; its batch dimension \(dimension 0\) must be from 1 to 16 \(the model's maxQueueSize\)/],
    ['more rows than the queue holds', dynamic, [head('x', [17, 7]), head('w', [17, 7]), head('k', [17, 2], 'INT64')], 16, /must be from 1 to 16 \(the model's maxQueueSize\)/],
    ['more rows than a fixed batch', fixed, [head('x', [5, 5])], 16, /^input "x" has shape \[5, 5\]; its batch dimension \(dimension 0\) must be from 1 to 4 \(the graph's fixed batch of 4\), the model takes \[4, 5\]$/],
    ['a wrong first dimension without a batch axis', none, [head('a', [1, 4]), head('b', [4, 3])], 16, /^input "a" has shape \[1, 4\]; the model takes \[3, 4\] \(dimension 0 must be 3\)$/],
  ];
  for (const [name, model, inputs, maxRows, error] of cases) {
    it(`refuses ${name}`, () =>
      assert.throws(
        () => checkInputs(model, 'm', inputs, maxRows),
        (err: unknown) => err instanceof GatewayError && err.code === 'INVALID_ARGUMENT' && error.test(err.message),
      ));
  }
});

describe('selectOutputs()', () => {
  const model = io([t('x', 'float32', ['n'])], [t('boxes', 'float32', ['n', 4]), t('scores', 'float32', ['n'])]);
  it('answers all outputs when none are named, else those named in their order', () => {
    assert.deepEqual(selectOutputs(model, 'm', undefined).map((o) => o.name), ['boxes', 'scores']);
    assert.deepEqual(selectOutputs(model, 'm', []).map((o) => o.name), ['boxes', 'scores']);
    assert.deepEqual(selectOutputs(model, 'm', ['scores', 'boxes']).map((o) => o.name), ['scores', 'boxes']);
  });
  it('refuses an unknown or repeated output', () => {
    assert.throws(() => selectOutputs(model, 'm', ['masks']), /unknown output "masks"; model "m" produces "boxes" \(FP32 \[-1, 4\]\), "scores" \(FP32 \[-1\]\)/);
    assert.throws(() => selectOutputs(model, 'm', ['scores', 'scores']), /output "scores" is requested twice/);
  });
});
