// The scoring graph of label sets: one ONNX Gemm, similarities[1, n] = image[1, d] x labels[n, d]^T,
// with symbolic n and d, so one session serves every set of every width. The ModelProto is written
// here byte by byte (a handful of protobuf fields, onnx/onnx.proto) rather than shipped as a file.
// bench:zero-shot measured onnxruntime's Gemm 4-7x faster than a JS loop at 1,000 and 20,000
// labels x 128 (docs/zero-shot.md#label-sets). The set's Float32Array is fed as the `labels`
// input as it is, so the matrix is held once.
import * as ort from 'onnxruntime-node';
import type { LabelMatrix } from './label-set-scores.js';

/** protobuf wire format: a varint. */
function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}
const field = (num: number, wire: number): number[] => varint((num << 3) | wire);
const int = (num: number, value: number): number[] => [...field(num, 0), ...varint(value)];
const bytes = (num: number, payload: readonly number[]): number[] => [...field(num, 2), ...varint(payload.length), ...payload];
const str = (num: number, text: string): number[] => bytes(num, [...Buffer.from(text, 'utf8')]);

/** ValueInfoProto of a float tensor with symbolic dims. */
function floatInput(name: string, dims: readonly (string | number)[]): number[] {
  const shape = dims.flatMap((d) => bytes(1, typeof d === 'number' ? int(1, d) : str(2, d)));
  const tensorType = [...int(1, 1 /* FLOAT */), ...bytes(2, shape)];
  return [...str(1, name), ...bytes(2, bytes(1, tensorType))];
}

/** The serialized ModelProto (IR version 8, opset 13). */
export function labelSetGemmModel(): Uint8Array {
  const transB = [...str(1, 'transB'), ...int(3, 1), ...int(20, 2 /* INT */)];
  const node = [...str(1, 'image'), ...str(1, 'labels'), ...str(2, 'sims'), ...str(4, 'Gemm'), ...bytes(5, transB)];
  const graph = [...bytes(1, node), ...str(2, 'label_set'), ...bytes(11, floatInput('image', [1, 'd'])), ...bytes(11, floatInput('labels', ['n', 'd'])), ...bytes(12, floatInput('sims', [1, 'n']))];
  return Uint8Array.from([...int(1, 8), ...bytes(7, graph), ...bytes(8, [...str(1, ''), ...int(2, 13)])]);
}

/** Runs the Gemm on this thread's onnxruntime (one intra-op thread: a 1 x n product does not gain from more). */
export class LabelSetGemm {
  private readonly tensors = new WeakMap<LabelMatrix, ort.Tensor>();

  private constructor(private readonly session: ort.InferenceSession) {}

  static async create(): Promise<LabelSetGemm> {
    return new LabelSetGemm(await ort.InferenceSession.create(labelSetGemmModel(), { executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3 }));
  }

  /** similarities[i] = row i of the set . image. */
  async similarities(set: LabelMatrix, image: Float32Array): Promise<Float32Array> {
    let labels = this.tensors.get(set);
    if (!labels) this.tensors.set(set, (labels = new ort.Tensor('float32', set.matrix, [set.labels.length, set.width])));
    const out = await this.session.run({ image: new ort.Tensor('float32', image, [1, set.width]), labels });
    return out['sims']!.data as Float32Array;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
