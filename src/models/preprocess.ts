// Image decoding and preprocessing with sharp, per request and before batching, so a bad image
// fails alone. Follows the manifest exactly as training did (timm/torchvision semantics):
// EXIF orientation, resize of the shorter side to size/cropFraction, center crop, x/scale,
// (x - mean)/std, into a Float32 slot in NCHW or NHWC. sharp errors become catalog errors here.
import { imageSize } from 'image-size';
import sharp, { type OutputInfo } from 'sharp';
import { GatewayError, tooLarge } from '../errors.js';
import { Float32Pool } from './buffer-pool.js';
import type { Preprocessing } from './manifest.js';

export interface ImageLimits {
  /** Largest encoded image, bytes. */
  readonly maxImageBytes: number;
  /** Largest decoded image, width x height pixels (decompression bombs). */
  readonly maxImagePixels: number;
}

const SUPPORTED_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff']);
const KERNELS = { bilinear: 'linear', bicubic: 'cubic', nearest: 'nearest' } as const;
const DECODE_TIMEOUT_SECONDS = 10;

// libvips caches whole operations; a gateway sees every image once, so the cache only costs memory.
sharp.cache(false);

/** Most memory the idle slots of one preprocessor keep (recycled input slots, see buffer-pool.ts). */
const IDLE_SLOT_BYTES = 4 * 1024 * 1024;

/** Turns encoded image bytes into the model's input slot. Safe to share between requests. */
export class ImagePreprocessor {
  /** Elements in one request's slot (channels x height x width). */
  readonly slotSize: number;
  readonly channels: number;
  /** Shape of one item, without the batch axis, in the manifest's layout. */
  readonly itemDims: readonly number[];
  private readonly lut: Float32Array[];
  private readonly slots: Float32Pool;

  constructor(
    readonly spec: Preprocessing,
    private readonly limits: ImageLimits,
  ) {
    const [height, width] = spec.size;
    this.channels = spec.channelOrder === 'GRAY' ? 1 : 3;
    this.slotSize = this.channels * height * width;
    this.itemDims = spec.layout === 'NCHW' ? [this.channels, height, width] : [height, width, this.channels];
    this.slots = new Float32Pool(this.slotSize, IDLE_SLOT_BYTES);
    // One lookup table per output channel: byte value -> normalized float, so the per-pixel work is a load.
    this.lut = Array.from({ length: this.channels }, (_, c) => {
      const mean = spec.mean[c] ?? spec.mean[0]!;
      const std = spec.std[c] ?? spec.std[0]!;
      const table = new Float32Array(256);
      for (let v = 0; v < 256; v++) table[v] = (v / spec.scale - mean) / std;
      return table;
    });
  }

  /**
   * Decodes and preprocesses one image into a Float32Array of `slotSize` (a recycled one when
   * available: hand it back with `release` once its values have been copied into a batch).
   */
  async run(bytes: Uint8Array): Promise<Float32Array> {
    if (bytes.length === 0) throw new GatewayError('INVALID_IMAGE', 'image is empty (0 bytes)');
    if (bytes.length > this.limits.maxImageBytes) {
      throw tooLarge({ what: 'image', sizeBytes: bytes.length, limitBytes: this.limits.maxImageBytes });
    }
    const { data, info } = await this.decode(bytes);
    const slot = this.slots.take(this.slotSize);
    const [height, width] = this.spec.size;
    const plane = height * width;
    const src = info.channels;
    // Output channel c reads source channel order[c] (BGR swaps red and blue).
    const order = this.spec.channelOrder === 'BGR' ? [2, 1, 0] : this.channels === 1 ? [0] : [0, 1, 2];
    if (this.spec.layout === 'NCHW') {
      for (let c = 0; c < this.channels; c++) {
        const lut = this.lut[c]!;
        const offset = c * plane;
        const sc = order[c]!;
        for (let p = 0; p < plane; p++) slot[offset + p] = lut[data[p * src + sc]!]!;
      }
    } else {
      for (let p = 0; p < plane; p++) {
        for (let c = 0; c < this.channels; c++) slot[p * this.channels + c] = this.lut[c]![data[p * src + order[c]!]!]!;
      }
    }
    return slot;
  }

  /** Takes back a slot `run` produced, for reuse; any other array is ignored. */
  release(slot: Float32Array): void {
    this.slots.give(slot);
  }

  private async decode(bytes: Uint8Array): Promise<{ data: Buffer; info: OutputInfo }> {
    const [height, width] = this.spec.size;
    try {
      const image = sharp(bytes, { limitInputPixels: this.limits.maxImagePixels, failOn: 'error', pages: 1 }).timeout({ seconds: DECODE_TIMEOUT_SECONDS });
      const meta =
        readHeader(bytes) ??
        (await image.metadata().catch(async (err: unknown) => {
          if (!/pixel limit/i.test(String(err))) throw err;
          // Cold path: read the header alone so the refusal can name the real dimensions.
          return sharp(bytes, { limitInputPixels: false, pages: 1 }).metadata();
        }));
      if (!meta.format || !SUPPORTED_FORMATS.has(meta.format)) {
        throw new GatewayError('INVALID_IMAGE', `unsupported image format "${meta.format ?? 'unknown'}"; supported: ${[...SUPPORTED_FORMATS].join(', ')}`);
      }
      const pixels = (meta.width ?? 0) * (meta.height ?? 0);
      if (pixels > this.limits.maxImagePixels) {
        throw new GatewayError('IMAGE_TOO_LARGE', `image is ${meta.width}x${meta.height} = ${pixels} pixels; the limit is ${this.limits.maxImagePixels} pixels`);
      }
      image.rotate(); // apply EXIF orientation, as PIL's exif_transpose would
      if (this.channels === 1) image.grayscale();
      else image.toColourspace('srgb').removeAlpha();

      const kernel = KERNELS[this.spec.interpolation];
      const oriented = orientedSize(meta);
      // Identity steps are skipped (an image already at the model's size is common: clients that
      // resize before sending); libvips would still run them, ~15 % of a small image's decode CPU.
      const [rw, rh] = this.spec.resizeMode === 'stretch' ? [width, height] : shorterSideResize(oriented.width, oriented.height, height, width, this.spec.cropFraction);
      if (rw !== oriented.width || rh !== oriented.height) image.resize({ width: rw, height: rh, fit: 'fill', kernel });
      if (rw !== width || rh !== height) {
        image.extract({ left: roundHalfEven((rw - width) / 2), top: roundHalfEven((rh - height) / 2), width, height });
      }
      const out = await image.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
      if (out.info.width !== width || out.info.height !== height) {
        throw new Error(`preprocessing produced ${out.info.width}x${out.info.height}, expected ${width}x${height}`);
      }
      return out;
    } catch (err) {
      throw translateSharpError(err, this.limits);
    }
  }
}

/** What decoding needs to know before it starts: format, stored size, EXIF orientation. */
interface Header {
  readonly format?: string | undefined;
  readonly width?: number | undefined;
  readonly height?: number | undefined;
  readonly orientation?: number | undefined;
}

const FAST_FORMATS: Record<string, string> = { jpg: 'jpeg', png: 'png', webp: 'webp' };

/**
 * Reads the header of a JPEG, PNG or WebP in JS (image-size), sparing the request a second libvips
 * round trip (sharp's metadata() costs as much main-thread time as the decode's setup). Returns
 * undefined, so the caller asks sharp, for any other format, an unreadable header, or a PNG/WebP
 * that may carry EXIF (image-size reads orientation from JPEG only; a false positive just costs
 * the slow path).
 */
function readHeader(bytes: Uint8Array): Header | undefined {
  let size: ReturnType<typeof imageSize>;
  try {
    // image-size reads through a DataView over the whole underlying ArrayBuffer: given a view into
    // a pooled buffer it can parse the bytes after the image (a truncated JPEG then "measures"
    // 49344x49344). It gets a copy of exactly the image (new Uint8Array copies; Buffer#slice would not).
    const exact = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : new Uint8Array(bytes);
    size = imageSize(exact);
  } catch {
    return undefined;
  }
  const format = size.type ? FAST_FORMATS[size.type] : undefined;
  if (!format || !(size.width > 0) || !(size.height > 0)) return undefined;
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if ((format === 'png' && buffer.includes('eXIf')) || (format === 'webp' && buffer.includes('EXIF'))) return undefined;
  return { format, width: size.width, height: size.height, orientation: size.orientation };
}

/** Image size after EXIF orientation (orientations 5-8 swap width and height). */
function orientedSize(meta: Header): { width: number; height: number } {
  const w = meta.width ?? 0;
  const h = meta.height ?? 0;
  return (meta.orientation ?? 1) >= 5 ? { width: h, height: w } : { width: w, height: h };
}

/**
 * torchvision Resize(int) semantics: the shorter side becomes floor(size / cropFraction) (timm's
 * scale_size), the longer keeps the aspect ratio truncated to an int. Returns [width, height].
 */
export function shorterSideResize(width: number, height: number, targetH: number, targetW: number, cropFraction: number): [number, number] {
  const scaleSize = Math.floor(Math.min(targetH, targetW) / cropFraction + 1e-9);
  let rw: number;
  let rh: number;
  if (width <= height) {
    rw = scaleSize;
    rh = Math.trunc((scaleSize * height) / width);
  } else {
    rh = scaleSize;
    rw = Math.trunc((scaleSize * width) / height);
  }
  // Non-square targets: make sure the crop fits.
  return [Math.max(rw, targetW), Math.max(rh, targetH)];
}

/** Python's round(): ties go to the even integer (torchvision's center crop offsets use it). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function translateSharpError(err: unknown, limits: ImageLimits): GatewayError {
  if (err instanceof GatewayError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (/pixel limit/i.test(message)) {
    return new GatewayError('IMAGE_TOO_LARGE', `image exceeds the pixel limit of ${limits.maxImagePixels} pixels`, { cause: err });
  }
  if (/timeout/i.test(message)) {
    return new GatewayError('INVALID_IMAGE', `image took longer than ${DECODE_TIMEOUT_SECONDS} s to decode`, { cause: err });
  }
  if (/unsupported image format/i.test(message)) {
    return new GatewayError('INVALID_IMAGE', 'bytes are not an image in a supported format (jpeg, png, webp, gif, tiff)', { cause: err });
  }
  return new GatewayError('INVALID_IMAGE', `image could not be decoded: ${message}`, { cause: err });
}
