// Procedural benchmark images from a fixed seed: a coloured shape (disc or box) on a noisy
// background, encoded alternately as PNG and JPEG, so every run and every server sees the same bytes.
import sharp from 'sharp';
import seedrandom from 'seedrandom';

/** A named set of encoded images of one size. */
export interface ImageSet {
  /** e.g. "64px" */
  readonly name: string;
  readonly width: number;
  readonly height: number;
  readonly images: readonly Buffer[];
  /** Content type of each image (image/png or image/jpeg). */
  readonly contentTypes: readonly string[];
  /** Mean encoded size, bytes. */
  readonly meanBytes: number;
}

/** Makes `count` images of `size` x `size` from `seed`; even indices PNG, odd JPEG (quality 90). */
export async function makeImageSet(size: number, count: number, seed: number): Promise<ImageSet> {
  const random = seedrandom(String(seed * 7919 + size));
  const images: Buffer[] = [];
  const contentTypes: string[] = [];
  for (let i = 0; i < count; i++) {
    const pixels = Buffer.alloc(size * size * 3);
    const bg = [random() * 255, random() * 255, random() * 255];
    const fg = [random() * 255, random() * 255, random() * 255];
    const cx = size * (0.3 + 0.4 * random());
    const cy = size * (0.3 + 0.4 * random());
    const r = size * (0.15 + 0.2 * random());
    const disc = random() < 0.5;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const inside = disc ? (x - cx) ** 2 + (y - cy) ** 2 <= r * r : Math.abs(x - cx) <= r && Math.abs(y - cy) <= r;
        const base = inside ? fg : bg;
        for (let c = 0; c < 3; c++) pixels[(y * size + x) * 3 + c] = Math.max(0, Math.min(255, base[c]! + (random() - 0.5) * 40));
      }
    }
    const image = sharp(pixels, { raw: { width: size, height: size, channels: 3 } });
    const png = i % 2 === 0;
    images.push(await (png ? image.png() : image.jpeg({ quality: 90 })).toBuffer());
    contentTypes.push(png ? 'image/png' : 'image/jpeg');
  }
  const meanBytes = images.reduce((s, b) => s + b.length, 0) / images.length;
  return { name: `${size}px`, width: size, height: size, images, contentTypes, meanBytes };
}
