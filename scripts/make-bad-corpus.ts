// Writes the bad-input corpus in test/fixtures/bad/: every file a hostile or broken client might
// send as an image, each small enough to commit (the 20 MB body is made at test time).
//   npx tsx scripts/make-bad-corpus.ts
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';

const OUT = fileURLToPath(new URL('../test/fixtures/bad/', import.meta.url));

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0);
  return Buffer.concat([length, body, crc]);
}

/** A valid-looking PNG header claiming width x height RGB pixels, with a few rows of data. */
function claimedPng(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.writeUInt8(8, 8); // bit depth
  ihdr.writeUInt8(2, 9); // colour type RGB
  const rows = Buffer.alloc((1 + width * 3) * 4); // four rows of zeros, filter 0
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(rows)), pngChunk('IEND', Buffer.alloc(0))]);
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const base = sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 200, g: 40, b: 40 } } });
  const jpeg = await base.clone().jpeg().toBuffer();
  const png = await base.clone().png().toBuffer();
  const files: Record<string, Buffer> = {
    'zero-bytes.bin': Buffer.alloc(0),
    'truncated.jpg': jpeg.subarray(0, Math.floor(jpeg.length / 2)),
    'truncated.png': png.subarray(0, Math.floor(png.length / 2)),
    'wrong-magic.png': Buffer.concat([Buffer.from('GIF89a'), png.subarray(6)]),
    'bomb-50000x50000.png': claimedPng(50000, 50000),
    'animated.gif': await sharp([await base.clone().png().toBuffer(), await sharp({ create: { width: 64, height: 48, channels: 3, background: '#00f' } }).png().toBuffer()], { join: { animated: true } })
      .gif()
      .toBuffer(),
    'cmyk.jpg': await base.clone().toColourspace('cmyk').jpeg().toBuffer(),
    '16-bit.png': await base.clone().toColourspace('rgb16').png().toBuffer(),
    '1x1.png': await sharp({ create: { width: 1, height: 1, channels: 3, background: '#fff' } }).png().toBuffer(),
    'huge-exif.jpg': await base.clone().withExif({ IFD0: { ImageDescription: 'x'.repeat(60_000) } }).jpeg().toBuffer(),
    'random-bytes.bin': Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24)),
    'text.txt': Buffer.from('hello, I am not an image\n'),
    'svg-script.svg': Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>'),
  };
  for (const [name, data] of Object.entries(files)) writeFileSync(join(OUT, name), data);
  console.log(`wrote ${Object.keys(files).length} files to ${OUT}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
