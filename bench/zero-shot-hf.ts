// bench:zero-shot's baseline: the real transformers.js zero-shot pipeline
// (@huggingface/transformers, `pipeline('zero-shot-image-classification', <local folder>)`) on the
// same ONNX files the gateway serves, loaded from a local folder with no network.
//
// transformers.js runs CLIP zero-shot through CLIPModel, i.e. ONE graph `onnx/model.onnx` with inputs
// input_ids, pixel_values (attention_mask) and output logits_per_image, as Optimum exports it. A model
// served by the gateway is two towers, so hfFolderFor() writes a transformers.js folder next to them
// and builds model.onnx from the two towers with python3's onnx package (Debian python3-onnx, one of
// the project's system packages): both tower graphs unchanged, plus glue: input_ids padded with the
// pad id up to the text tower's fixed context length (the tokenizer pads to the longest prompt only),
// L2 normalization, logits_per_image = logitScale x image_embeds . text_embeds^T (the gateway's scale).
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { readHfClipLayout, HF_TEXT_MODEL, HF_VISION_MODEL } from '../src/models/hf-clip.js';
import { type ClipManifest, parseManifest } from '../src/models/manifest.js';

/** Where the transformers.js folder was written and what the gateway makes of the source. */
export interface HfFolder {
  /** env.localModelPath for transformers.js. */
  readonly root: string;
  /** The model id under root: `<root>/<name>/onnx/model.onnx`. */
  readonly name: string;
  /** The source's manifest (model.json, or synthesized from an HF export as the gateway does). */
  readonly manifest: ClipManifest;
  /** Folder holding the source's ONNX files (the version folder). */
  readonly sourceFiles: string;
}

const COMBINE_PY = String.raw`
import sys
import onnx
from onnx import TensorProto, compose, helper

vision_path, text_path, out_path = sys.argv[1:4]
logit_scale, context_length, pad_id = float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
vision_in, vision_out, text_in, text_out = sys.argv[7:11]
v = compose.add_prefix(onnx.load(vision_path), 'vision/')
t = compose.add_prefix(onnx.load(text_path), 'text/')
pix = onnx.ValueInfoProto()
pix.CopyFrom(next(i for i in v.graph.input if i.name == 'vision/' + vision_in))
pix.name = 'pixel_values'
ids = helper.make_tensor_value_info('input_ids', TensorProto.INT64, ['text_batch', 'sequence_length'])
mask = helper.make_tensor_value_info('attention_mask', TensorProto.INT64, ['text_batch', 'sequence_length'])
def const(name, dtype, vals, dims):
    return helper.make_node('Constant', [], [name], value=helper.make_tensor(name + '_value', dtype, dims, vals))
head = [
    helper.make_node('Identity', ['pixel_values'], ['vision/' + vision_in]),
    helper.make_node('Shape', ['input_ids'], ['glue/seq'], start=1, end=2),
    const('glue/ctx', TensorProto.INT64, [context_length], [1]),
    helper.make_node('Sub', ['glue/ctx', 'glue/seq'], ['glue/missing']),
    const('glue/zeros', TensorProto.INT64, [0, 0, 0], [3]),
    helper.make_node('Concat', ['glue/zeros', 'glue/missing'], ['glue/pads'], axis=0),
    const('glue/pad_id', TensorProto.INT64, [pad_id], []),
    helper.make_node('Pad', ['input_ids', 'glue/pads', 'glue/pad_id'], ['text/' + text_in], mode='constant'),
]
tail = [
    helper.make_node('LpNormalization', ['vision/' + vision_out], ['image_embeds'], axis=1, p=2),
    helper.make_node('LpNormalization', ['text/' + text_out], ['text_embeds'], axis=1, p=2),
    helper.make_node('Transpose', ['text_embeds'], ['glue/text_t'], perm=[1, 0]),
    helper.make_node('MatMul', ['image_embeds', 'glue/text_t'], ['glue/cos']),
    const('glue/scale', TensorProto.FLOAT, [logit_scale], []),
    helper.make_node('Mul', ['glue/cos', 'glue/scale'], ['logits_per_image']),
    helper.make_node('Transpose', ['logits_per_image'], ['logits_per_text'], perm=[1, 0]),
]
outputs = [
    helper.make_tensor_value_info('logits_per_image', TensorProto.FLOAT, ['image_batch', 'text_batch']),
    helper.make_tensor_value_info('logits_per_text', TensorProto.FLOAT, ['text_batch', 'image_batch']),
    helper.make_tensor_value_info('text_embeds', TensorProto.FLOAT, ['text_batch', None]),
    helper.make_tensor_value_info('image_embeds', TensorProto.FLOAT, ['image_batch', None]),
]
graph = helper.make_graph(
    head + list(v.graph.node) + list(t.graph.node) + tail, 'clip', [ids, pix, mask], outputs,
    initializer=list(v.graph.initializer) + list(t.graph.initializer),
    value_info=list(v.graph.value_info) + list(t.graph.value_info),
)
opset = max(o.version for o in list(v.opset_import) + list(t.opset_import) if o.domain in ('', 'ai.onnx'))
model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', opset)], producer_name='bench/zero-shot-hf')
model.ir_version = max(v.ir_version, t.ir_version)
onnx.checker.check_model(model)
onnx.save(model, out_path)
`;

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Writes `<root>/<name>/` for transformers.js from a clip model folder (model.json + version
 * folder, or an HF export): config.json, tokenizer.json, tokenizer_config.json,
 * preprocessor_config.json, onnx/vision_model.onnx, onnx/text_model.onnx (the source's files,
 * copied byte for byte) and onnx/model.onnx (both towers in one graph, see above).
 */
export async function hfFolderFor(modelDir: string, root: string): Promise<HfFolder> {
  const name = basename(modelDir);
  let manifest: ClipManifest;
  let sourceFiles: string;
  if (await exists(join(modelDir, 'model.json'))) {
    const m = parseManifest(JSON.parse(await readFile(join(modelDir, 'model.json'), 'utf8')), name);
    if (m.kind !== 'clip') throw new Error(`${name} is a ${m.kind} model, not clip`);
    const versions = (await readdir(modelDir, { withFileTypes: true }))
      .filter((d) => d.isDirectory() && /^[1-9][0-9]*$/.test(d.name))
      .map((d) => Number(d.name))
      .sort((a, b) => b - a);
    if (versions.length === 0) throw new Error(`${modelDir} has no version folder`);
    manifest = m;
    sourceFiles = join(modelDir, String(versions[0]));
  } else {
    const layout = await readHfClipLayout(modelDir, name);
    if (!layout) throw new Error(`${modelDir} has neither model.json nor ${HF_VISION_MODEL} + ${HF_TEXT_MODEL}`);
    manifest = layout.manifest;
    sourceFiles = layout.flat ? modelDir : join(modelDir, '1');
  }
  const clip = manifest.clip;
  const pp = manifest.preprocessing;
  if (pp.resizeMode !== 'shorter' || pp.layout !== 'NCHW' || pp.channelOrder !== 'RGB') {
    throw new Error(`${name}: CLIPImageProcessor resizes the shorter side into RGB NCHW; this model's preprocessing cannot be written as preprocessor_config.json`);
  }
  const dir = join(root, name);
  await mkdir(join(dir, 'onnx'), { recursive: true });
  const vision = join(dir, 'onnx', 'vision_model.onnx');
  const text = join(dir, 'onnx', 'text_model.onnx');
  await copyFile(join(sourceFiles, clip.imageEncoder.file), vision);
  await copyFile(join(sourceFiles, clip.textEncoder.file), text);
  await copyFile(join(sourceFiles, clip.tokenizer), join(dir, 'tokenizer.json'));
  await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify({
    tokenizer_class: 'CLIPTokenizer', model_max_length: clip.contextLength, do_lower_case: true, clean_up_tokenization_spaces: false,
    bos_token: '<|startoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>', pad_token: '<|endoftext|>',
  }));
  await writeFile(join(dir, 'preprocessor_config.json'), JSON.stringify({
    image_processor_type: 'CLIPImageProcessor', feature_extractor_type: 'CLIPFeatureExtractor',
    do_resize: true, size: { shortest_edge: Math.round(Math.min(...pp.size) / pp.cropFraction) },
    resample: { nearest: 0, bilinear: 2, bicubic: 3 }[pp.interpolation],
    do_center_crop: true, crop_size: { height: pp.size[0], width: pp.size[1] },
    do_rescale: true, rescale_factor: 1 / pp.scale, do_normalize: true, image_mean: pp.mean, image_std: pp.std, do_convert_rgb: true,
  }));
  await writeFile(join(dir, 'config.json'), JSON.stringify({
    architectures: ['CLIPModel'], model_type: 'clip', projection_dim: clip.embeddingSize, logit_scale_init_value: Math.log(clip.logitScale),
    text_config: { model_type: 'clip_text_model', max_position_embeddings: clip.contextLength, eos_token_id: 49407, bos_token_id: 49406, pad_token_id: clip.padTokenId },
    vision_config: { model_type: 'clip_vision_model', image_size: pp.size[0] },
  }));
  execFileSync('/usr/bin/python3', ['-c', COMBINE_PY, vision, text, join(dir, 'onnx', 'model.onnx'), String(clip.logitScale), String(clip.contextLength), String(clip.padTokenId),
    clip.imageEncoder.input, clip.imageEncoder.output, clip.textEncoder.input, clip.textEncoder.output], { stdio: ['ignore', 'inherit', 'inherit'] });
  return { root, name, manifest, sourceFiles };
}

/** One zero-shot answer as transformers.js gives it: best first. */
export type PipelineAnswer = { label: string; score: number }[];

/** What bench:zero-shot uses of the pipeline and its parts. */
export interface HfZeroShot {
  /** The pipeline call, as an application would make it: encoded image bytes in, sorted scores out. */
  classify(image: Buffer, labels: readonly string[], template: string): Promise<PipelineAnswer>;
  /** The same call step by step, each step timed (ms): decode, processor, tokenizer, model (one ONNX run), postprocess. */
  classifyTimed(image: Buffer, labels: readonly string[], template: string): Promise<Record<'decode' | 'preprocess' | 'tokenize' | 'model' | 'postprocess', number>>;
  dispose(): Promise<void>;
}

/** Loads the real pipeline from `<root>/<name>` with remote models off (nothing is fetched). */
export async function loadHfZeroShot(folder: HfFolder): Promise<HfZeroShot> {
  const tjs = await import('@huggingface/transformers');
  tjs.env.allowRemoteModels = false;
  tjs.env.allowLocalModels = true;
  tjs.env.localModelPath = folder.root;
  tjs.env.useBrowserCache = false;
  tjs.env.useFSCache = false;
  const pipe = await tjs.pipeline('zero-shot-image-classification', folder.name, { device: 'cpu', dtype: 'fp32' });
  const read = async (image: Buffer): Promise<InstanceType<typeof tjs.RawImage>> => tjs.RawImage.fromBlob(new Blob([image as Uint8Array<ArrayBuffer>]));
  return {
    async classify(image, labels, template) {
      return pipe(await read(image), [...labels], { hypothesis_template: template });
    },
    async classifyTimed(image, labels, template) {
      // The body of ZeroShotImageClassificationPipeline._call (transformers.js 4.3), timed step by step.
      let t = performance.now();
      const lap = (): number => {
        const now = performance.now();
        const ms = now - t;
        t = now;
        return ms;
      };
      const raw = await read(image);
      const decode = lap();
      const { pixel_values } = (await pipe.processor([raw])) as { pixel_values: unknown };
      const preprocess = lap();
      const textInputs = pipe.tokenizer(labels.map((l) => template.replace('{}', l)), { padding: true, truncation: true }) as Record<string, unknown>;
      const tokenize = lap();
      const output = (await pipe.model({ ...textInputs, pixel_values })) as { logits_per_image: { data: Float32Array } };
      const model = lap();
      const probs = tjs.softmax(Array.from(output.logits_per_image.data));
      probs.map((score, i) => ({ score, label: labels[i] })).sort((a, b) => b.score - a.score);
      const postprocess = lap();
      return { decode, preprocess, tokenize, model, postprocess };
    },
    async dispose() {
      await pipe.dispose();
    },
  };
}
