// The image preprocessor on its own: EXIF orientation is applied for every format (the header of
// JPEG, PNG and WebP is read in JS, and PNG/WebP with EXIF take sharp's metadata path), the
// shorter-side resize follows the oriented size, and formats outside the fast path still decode.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { PreprocessingSchema } from '../../src/models/manifest.js';
import { ImagePreprocessor } from '../../src/models/preprocess.js';
import { REPO_ROOT } from '../helpers/gateway.js';

const spec = PreprocessingSchema.parse({ size: [32, 32], resizeMode: 'shorter', cropFraction: 1, interpolation: 'nearest', scale: 255, mean: [0, 0, 0], std: [1, 1, 1] });
const pre = new ImagePreprocessor(spec, { maxImageBytes: 1 << 20, maxImagePixels: 1 << 20 });

/** A 64x32 (w x h) picture: left half red, right half blue, a green bar along the top. */
async function landscape(): Promise<Sharp> {
  const w = 64;
  const h = 32;
  const raw = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      if (y < 4) raw[i + 1] = 255;
      else if (x < w / 2) raw[i] = 255;
      else raw[i + 2] = 255;
    }
  }
  return sharp(raw, { raw: { width: w, height: h, channels: 3 } });
}

function meanAbsDiff(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

describe('ImagePreprocessor', () => {
  let upright: Float32Array;

  before(async () => {
    // What a viewer shows for orientation 6 (rotate 90 degrees clockwise), stored without EXIF.
    const rotated = await (await landscape()).rotate(90).png().toBuffer();
    upright = await pre.run(rotated);
  });

  for (const format of ['png', 'webp', 'jpeg'] as const) {
    it(`applies EXIF orientation 6 in a ${format}`, async () => {
      const img = await landscape();
      const encoded = await (format === 'png' ? img.png() : format === 'webp' ? img.webp({ lossless: true }) : img.jpeg({ quality: 100 })).withMetadata({ orientation: 6 }).toBuffer();
      assert.equal((await sharp(encoded).metadata()).orientation, 6);
      const out = await pre.run(encoded);
      assert.ok(meanAbsDiff(out, upright) < 0.05, `mean |diff| ${meanAbsDiff(out, upright)} against the upright image`);
      // Unrotated, the top rows would be green; rotated, the right-hand columns are.
      const plane = 32 * 32;
      assert.ok(out[plane + 31]! > 0.9 && out[plane + 0]! < 0.1, 'green bar is not on the right after rotation');
    });
  }

  it('decodes formats outside the JS header path (TIFF, GIF) through sharp', async () => {
    for (const encoded of [await (await landscape()).tiff().toBuffer(), await (await landscape()).gif().toBuffer()]) {
      const out = await pre.run(encoded);
      assert.equal(out.length, 3 * 32 * 32);
    }
  });

  it('reads only the image when its bytes are a view into a larger buffer (a truncated JPEG stays a decode error)', async () => {
    const truncated = readFileSync(join(REPO_ROOT, 'test', 'fixtures', 'bad', 'truncated.jpg'));
    const pool = Buffer.alloc(truncated.length + 100_000, 0xc0); // what follows looks like JPEG markers
    truncated.copy(pool, 0);
    await assert.rejects(pre.run(pool.subarray(0, truncated.length)), (err: Error & { code?: string }) => err.code === 'INVALID_IMAGE');
  });

  it('refuses an image over the pixel limit by its header, naming its size', async () => {
    const small = new ImagePreprocessor(spec, { maxImageBytes: 1 << 20, maxImagePixels: 1000 });
    const encoded = await (await landscape()).png().toBuffer();
    await assert.rejects(small.run(encoded), (err: Error & { code?: string }) => err.code === 'IMAGE_TOO_LARGE' && /64x32 = 2048 pixels; the limit is 1000/.test(err.message));
  });
});
