// Checks a loaded graph against what its declared kind can serve, before the version is marked
// READY: an image-classifier is one float32 image input of rank 4 and one [N, C] (or [N, C, 1, 1])
// float32 output with C = the number of labels; a clip model's towers take what the gateway feeds
// them and answer [N, embeddingSize]. A graph that does not fit is refused with a reason naming
// the tensor and its shape (a detector declared as a classifier must never answer wrong labels).
// The batch axis is read here too: dynamic, or a fixed size that batching is capped at and padded to.
import type { ClassifierManifest, ClipManifest, RerankerSettings } from './manifest.js';
import type { IoInfo } from './session.js';

/** Where to go when the graph is not of the declared kind. */
export const TENSOR_KIND_HINT = 'serve it as kind "tensor" (tensors in and out over KServe v2) instead';

/** The batch axis of a graph: undefined = dynamic; a number = every run must have exactly that many rows. */
export interface BatchAxis {
  readonly fixedBatchSize: number | undefined;
}

/** What a classifier graph turned out to be, once it passed the checks. */
export interface ClassifierGraph extends BatchAxis {
  /** Values per output row (C), when the graph states it; checked on every batch otherwise. */
  readonly classes: number | undefined;
}

/** Fixed batch sizes of a clip model's two towers. */
export interface ClipGraphs {
  readonly image: BatchAxis;
  readonly text: BatchAxis;
}

/** `[batch, 3, 32, 32]`: a shape as the graph states it (symbolic axes by name, -1 as "?"). */
export function shapeText(shape: readonly (number | string)[]): string {
  return `[${shape.map((d) => (typeof d === 'number' && d < 0 ? '?' : String(d))).join(', ')}]`;
}

function describe(io: readonly IoInfo[]): string {
  return io.map((t) => `"${t.name}" ${t.type} ${shapeText(t.shape)}`).join(', ');
}

function fixed(d: number | string | undefined): number | undefined {
  return typeof d === 'number' && d > 0 ? d : undefined;
}

/**
 * The image-classifier contract. `itemDims` is what preprocessing produces per image ([C, H, W] or
 * [H, W, C]); `labels` is the number of labels. Throws an Error whose message is the reason.
 */
export function checkClassifierGraph(manifest: ClassifierManifest, inputs: readonly IoInfo[], outputs: readonly IoInfo[], itemDims: readonly number[], labels: number): ClassifierGraph {
  if (manifest.outputs.length !== 1) {
    throw new Error(`model.json declares ${manifest.outputs.length} outputs; an image-classifier has exactly one output [N, C]; ${TENSOR_KIND_HINT}`);
  }
  if (inputs.length !== 1) {
    throw new Error(`the graph has ${inputs.length} inputs (${describe(inputs)}); an image-classifier takes exactly one image input of rank 4; ${TENSOR_KIND_HINT}`);
  }
  if (outputs.length !== 1) {
    throw new Error(`the graph has ${outputs.length} outputs (${describe(outputs)}); an image-classifier has exactly one output [N, C] (or [N, C, 1, 1]), one score per label; ${TENSOR_KIND_HINT}`);
  }
  const input = inputs[0]!;
  const output = outputs[0]!;
  checkImageInput(input, itemDims, 'graph input');
  checkDeclared(manifest.inputs[0]!, input, 'input');
  checkDeclared(manifest.outputs[0]!, output, 'output');
  if (output.type !== 'float32') throw new Error(`graph output "${output.name}" is ${output.type}; an image-classifier output must be float32 scores; ${TENSOR_KIND_HINT}`);
  const rowShape = output.shape.slice(1);
  const isScores = rowShape.length === 1 || (rowShape.length === 3 && rowShape[1] === 1 && rowShape[2] === 1);
  if (!isScores) {
    throw new Error(`graph output "${output.name}" has shape ${shapeText(output.shape)}; an image-classifier output is [N, C] (or [N, C, 1, 1]) with C = ${labels} labels; ${TENSOR_KIND_HINT}`);
  }
  const classes = fixed(rowShape[0]);
  if (classes !== undefined && classes !== labels) {
    throw new Error(`graph output "${output.name}" has shape ${shapeText(output.shape)}: ${classes} classes, but ${labels} labels were given (one label per line of the labels file, in class order)`);
  }
  return { fixedBatchSize: batchAxis(input, [output]), classes };
}

/**
 * The clip contract: the image tower takes only the declared float32 rank-4 input; the text tower
 * takes int64 ids [N, contextLength] (and optionally an int64 attention_mask); both answer float32
 * [N, embeddingSize]. Throws an Error whose message is the reason.
 */
export function checkClipGraphs(
  clip: ClipManifest['clip'],
  image: { readonly inputs: readonly IoInfo[]; readonly outputs: readonly IoInfo[] },
  text: { readonly inputs: readonly IoInfo[]; readonly outputs: readonly IoInfo[] },
  itemDims: readonly number[],
): ClipGraphs {
  const imageInput = image.inputs.find((i) => i.name === clip.imageEncoder.input)!;
  if (image.inputs.length !== 1) {
    throw new Error(`image encoder has ${image.inputs.length} inputs (${describe(image.inputs)}); a clip image encoder takes exactly one image input of rank 4; ${TENSOR_KIND_HINT}`);
  }
  checkImageInput(imageInput, itemDims, 'image encoder input');
  const imageOutput = image.outputs.find((o) => o.name === clip.imageEncoder.output)!;
  checkEmbedding(imageOutput, clip.embeddingSize, 'image encoder');

  const textInput = text.inputs.find((i) => i.name === clip.textEncoder.input)!;
  const extra = text.inputs.filter((i) => i.name !== textInput.name && i.name !== 'attention_mask');
  if (extra.length > 0) {
    throw new Error(`text encoder has inputs the gateway cannot feed (${describe(extra)}); a clip text encoder takes token ids [N, ${clip.contextLength}] and optionally "attention_mask"; ${TENSOR_KIND_HINT}`);
  }
  for (const ids of text.inputs) {
    if (ids.type !== 'int64') throw new Error(`text encoder input "${ids.name}" is ${ids.type}; int64 token ids are expected`);
    if (ids.shape.length !== 2) throw new Error(`text encoder input "${ids.name}" has shape ${shapeText(ids.shape)}; a clip text encoder takes [N, ${clip.contextLength}] token ids`);
    const length = fixed(ids.shape[1]);
    if (length !== undefined && length !== clip.contextLength) {
      throw new Error(`text encoder input "${ids.name}" has shape ${shapeText(ids.shape)}, contextLength is ${clip.contextLength}`);
    }
  }
  const textOutput = text.outputs.find((o) => o.name === clip.textEncoder.output)!;
  checkEmbedding(textOutput, clip.embeddingSize, 'text encoder');
  return { image: { fixedBatchSize: batchAxis(imageInput, [imageOutput]) }, text: { fixedBatchSize: batchAxis(textInput, [textOutput, ...text.inputs]) } };
}

/**
 * The reranker contract: exactly two inputs, the image (float32, rank 4, the image tower's item
 * shape) and the candidates' token ids (int64 [K, contextLength]), and a float32 [N, K] output.
 * Returns the image batch axis (a fixed one caps and pads batches). Throws an Error whose message is the reason.
 */
export function checkRerankerGraph(reranker: RerankerSettings, graph: { readonly inputs: readonly IoInfo[]; readonly outputs: readonly IoInfo[] }, itemDims: readonly number[]): BatchAxis {
  const names = new Set([reranker.imageInput, reranker.textInput]);
  const extra = graph.inputs.filter((i) => !names.has(i.name));
  if (extra.length > 0) throw new Error(`reranker has inputs the gateway cannot feed (${describe(extra)}); it takes "${reranker.imageInput}" images and "${reranker.textInput}" token ids`);
  const image = graph.inputs.find((i) => i.name === reranker.imageInput)!;
  checkImageInput(image, itemDims, 'reranker input');
  const ids = graph.inputs.find((i) => i.name === reranker.textInput)!;
  if (ids.type !== 'int64') throw new Error(`reranker input "${ids.name}" is ${ids.type}; int64 token ids are expected`);
  const length = fixed(ids.shape[1]);
  if (ids.shape.length !== 2 || (length !== undefined && length !== reranker.contextLength)) {
    throw new Error(`reranker input "${ids.name}" has shape ${shapeText(ids.shape)}; it takes [K, ${reranker.contextLength}] token ids (reranker.contextLength)`);
  }
  if (fixed(ids.shape[0]) !== undefined) throw new Error(`reranker input "${ids.name}" has shape ${shapeText(ids.shape)}; its candidate axis must be dynamic`);
  const output = graph.outputs.find((o) => o.name === reranker.output)!;
  if (output.type !== 'float32' || output.shape.length !== 2) {
    throw new Error(`reranker output "${output.name}" is ${output.type} ${shapeText(output.shape)}; float32 logits [N, K] are expected`);
  }
  return { fixedBatchSize: batchAxis(image, [output]) };
}

function checkImageInput(input: IoInfo, itemDims: readonly number[], what: string): void {
  if (input.type !== 'float32') throw new Error(`${what} "${input.name}" is ${input.type}; an image input must be float32`);
  if (input.shape.length !== 4) {
    throw new Error(`${what} "${input.name}" has shape ${shapeText(input.shape)} (rank ${input.shape.length}); an image input has rank 4, [N, ${itemDims.join(', ')}] here; ${TENSOR_KIND_HINT}`);
  }
  const itemShape = input.shape.slice(1);
  if (itemShape.some((d, i) => fixed(d) !== undefined && d !== itemDims[i])) {
    throw new Error(`${what} "${input.name}" has shape ${shapeText(input.shape)}, preprocessing produces [N, ${itemDims.join(', ')}]`);
  }
}

function checkEmbedding(output: IoInfo, embeddingSize: number, tower: string): void {
  if (output.type !== 'float32') throw new Error(`${tower} output "${output.name}" is ${output.type}; float32 embeddings are expected`);
  const width = fixed(output.shape[1]);
  if (output.shape.length !== 2 || (width !== undefined && width !== embeddingSize)) {
    throw new Error(`${tower} output "${output.name}" has shape ${shapeText(output.shape)}; a clip ${tower} outputs [N, ${embeddingSize}] (embeddingSize); ${TENSOR_KIND_HINT}`);
  }
}

/** A shape or dtype written in model.json must agree with the graph (fixed axes compared; -1 or a name is dynamic). */
function checkDeclared(spec: { readonly name: string; readonly dtype: string; readonly shape?: readonly (number | string)[] | undefined }, io: IoInfo, what: string): void {
  if (spec.dtype !== io.type) throw new Error(`model.json declares ${what} "${spec.name}" as ${spec.dtype}; the graph's is ${io.type}`);
  const shape = spec.shape;
  if (shape === undefined) return;
  const differs = shape.length !== io.shape.length || shape.some((d, i) => fixed(d) !== undefined && fixed(io.shape[i]) !== undefined && d !== io.shape[i]);
  if (differs) throw new Error(`model.json declares ${what} "${spec.name}" with shape ${shapeText(shape)}; the graph's is ${shapeText(io.shape)}`);
}

/**
 * The input's batch axis. When it is fixed, every other tensor listed must have the same fixed size
 * there, or a dynamic one. (A fixed output batch behind a dynamic input is left to the per-batch
 * shape check: such a graph may still run batches of that size.)
 */
function batchAxis(input: IoInfo, others: readonly IoInfo[]): number | undefined {
  const size = fixed(input.shape[0]);
  if (size === undefined) return undefined;
  for (const t of others) {
    const other = fixed(t.shape[0]);
    if (other !== undefined && other !== size) {
      throw new Error(`"${t.name}" has shape ${shapeText(t.shape)} but input "${input.name}" has ${shapeText(input.shape)}: their first (batch) axes differ`);
    }
  }
  return size;
}
