// The Hugging Face Optimum / transformers.js CLIP export layout, served unchanged: a folder with
// onnx/vision_model.onnx, onnx/text_model.onnx, tokenizer.json, preprocessor_config.json and
// config.json (and no model.json). The clip manifest is synthesized from those files, then
// validated by the one manifest schema like any model.json.
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type ClipManifest, parseManifest } from './manifest.js';

export const HF_VISION_MODEL = 'onnx/vision_model.onnx';
export const HF_TEXT_MODEL = 'onnx/text_model.onnx';

/** A synthesized manifest and where the export sits. */
export interface HfClipLayout {
  readonly manifest: ClipManifest;
  /** Canonical JSON of the manifest (to notice changes on reload). */
  readonly text: string;
  /** True when the model folder itself holds the export (served as version 1). */
  readonly flat: boolean;
}

/** PIL resample codes CLIPImageProcessor uses -> our interpolation names. */
const RESAMPLE: Readonly<Record<number, 'nearest' | 'bilinear' | 'bicubic'>> = Object.freeze({ 0: 'nearest', 2: 'bilinear', 3: 'bicubic' });

/**
 * The HF export in `modelDir` itself (flat) or in its highest numbered version folder, as a
 * clip manifest; undefined when neither holds onnx/vision_model.onnx and onnx/text_model.onnx.
 * Throws, naming the file and field, when the export is there but its JSON is unusable.
 */
export async function readHfClipLayout(modelDir: string, name: string): Promise<HfClipLayout | undefined> {
  let folder: string | undefined;
  let flat = false;
  if (await isHfExport(modelDir)) {
    folder = modelDir;
    flat = true;
  } else {
    const versions = (await readdir(modelDir, { withFileTypes: true }).catch(() => []))
      .filter((d) => d.isDirectory() && /^[1-9][0-9]{0,8}$/.test(d.name))
      .map((d) => d.name)
      .sort((a, b) => Number(b) - Number(a));
    for (const v of versions) {
      if (await isHfExport(join(modelDir, v))) {
        folder = join(modelDir, v);
        break;
      }
    }
  }
  if (!folder) return undefined;
  const pre = await readJsonObject(join(folder, 'preprocessor_config.json'));
  const config = await readJsonObject(join(folder, 'config.json'));
  const tokenizer = await readJsonObject(join(folder, 'tokenizer.json'));
  const json = {
    name,
    kind: 'clip',
    description: `Hugging Face CLIP export (${HF_VISION_MODEL} + ${HF_TEXT_MODEL}); manifest synthesized from config.json and preprocessor_config.json`,
    preprocessing: preprocessingFrom(pre),
    clip: {
      imageEncoder: { file: HF_VISION_MODEL, input: 'pixel_values', output: 'image_embeds' },
      textEncoder: { file: HF_TEXT_MODEL, input: 'input_ids', output: 'text_embeds' },
      tokenizer: 'tokenizer.json',
      contextLength: textConfig(config)['max_position_embeddings'] ?? 77,
      padTokenId: padTokenId(tokenizer),
      // exp(logit_scale_init_value): the split towers do not carry the trained scale (see docs/zero-shot.md).
      logitScale: Math.exp(numberField(config, 'logit_scale_init_value', 'config.json', Math.log(100))),
      embeddingSize: numberField(config, 'projection_dim', 'config.json'),
      templates: ['a photo of a {}.'],
    },
  };
  const manifest = parseManifest(json, name);
  if (manifest.kind !== 'clip') throw new Error('unreachable: synthesized manifest is not clip');
  return { manifest, text: JSON.stringify(json), flat };
}

async function isHfExport(folder: string): Promise<boolean> {
  const found = await Promise.all([HF_VISION_MODEL, HF_TEXT_MODEL].map((f) => stat(join(folder, f)).then((s) => s.isFile(), () => false)));
  return found.every(Boolean);
}

/** CLIPImageProcessor fields -> manifest preprocessing (resize shorter side, center crop, rescale, normalize). */
function preprocessingFrom(pre: Record<string, unknown>): Record<string, unknown> {
  const where = 'preprocessor_config.json';
  const crop = hw(pre['crop_size'], 'crop_size');
  const size = pre['size'];
  const shortest = typeof size === 'number' ? size : typeof size === 'object' && size !== null ? (size as Record<string, unknown>)['shortest_edge'] : undefined;
  const cropHw = crop ?? (typeof shortest === 'number' ? [shortest, shortest] : hw(size, 'size'));
  if (!cropHw) throw new Error(`${where}: needs crop_size or size.shortest_edge`);
  const doCrop = pre['do_center_crop'] !== false;
  const resample = pre['resample'] === undefined ? 3 : Number(pre['resample']);
  const interpolation = RESAMPLE[resample];
  if (!interpolation) throw new Error(`${where}: resample ${String(resample)} is not supported; use 0 (nearest), 2 (bilinear) or 3 (bicubic)`);
  const rescale = pre['do_rescale'] === false ? 1 : numberField(pre, 'rescale_factor', where, 1 / 255);
  const normalize = pre['do_normalize'] !== false;
  let resizeMode = 'shorter';
  let cropFraction = 1;
  if (typeof shortest === 'number' && doCrop) cropFraction = Math.min(cropHw[0], cropHw[1]) / shortest;
  else if (typeof shortest !== 'number') resizeMode = 'stretch';
  return {
    size: cropHw,
    resizeMode,
    cropFraction,
    interpolation,
    scale: 1 / rescale,
    mean: normalize ? (pre['image_mean'] ?? [0.48145466, 0.4578275, 0.40821073]) : [0, 0, 0],
    std: normalize ? (pre['image_std'] ?? [0.26862954, 0.26130258, 0.27577711]) : [1, 1, 1],
    channelOrder: 'RGB',
    layout: 'NCHW',
  };
}

/** {height, width} or a number -> [height, width]. */
function hw(value: unknown, field: string): [number, number] | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number') return [value, value];
  const v = value as Record<string, unknown>;
  if (typeof v['height'] === 'number' && typeof v['width'] === 'number') return [v['height'], v['width']];
  if (typeof v['shortest_edge'] === 'number') return undefined;
  throw new Error(`preprocessor_config.json: ${field} must be a number or {height, width}`);
}

function textConfig(config: Record<string, unknown>): Record<string, number | undefined> {
  const t = config['text_config'];
  return typeof t === 'object' && t !== null ? (t as Record<string, number | undefined>) : {};
}

/** HF CLIP tokenizers pad with <|endoftext|>. */
function padTokenId(tokenizer: Record<string, unknown>): number {
  const added = Array.isArray(tokenizer['added_tokens']) ? (tokenizer['added_tokens'] as { id?: number; content?: string }[]) : [];
  const eot = added.find((t) => t.content === '<|endoftext|>');
  if (eot?.id !== undefined) return eot.id;
  const vocab = (tokenizer['model'] as { vocab?: Record<string, number> } | undefined)?.vocab;
  const id = vocab?.['<|endoftext|>'];
  if (id === undefined) throw new Error('tokenizer.json has no <|endoftext|> token: not a CLIP tokenizer');
  return id;
}

function numberField(obj: Record<string, unknown>, field: string, where: string, fallback?: number): number {
  const v = obj[field];
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (v === undefined && fallback !== undefined) return fallback;
  throw new Error(`${where}: field "${field}" must be a number`);
}

async function readJsonObject(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`Hugging Face CLIP export: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`${path} must hold a JSON object`);
  return json as Record<string, unknown>;
}
