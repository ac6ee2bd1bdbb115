// Test images drawn in code (SVG rasterized by sharp: no fonts, no files): MNIST-style digits
// and encoded variants (JPEG, PNG, WebP, EXIF-rotated) of any raw image.
import sharp from 'sharp';

/** Stroke paths of the ten digits in a 28x28 box, drawn as MNIST digits are: white on black, ~20 px tall, centered. */
const DIGIT_PATHS: readonly string[] = [
  '<ellipse cx="14" cy="14" rx="6" ry="9"/>',
  '<path d="M14,5 L14,23"/>',
  '<path d="M8,9 C8,3 20,3 20,9 C20,14 8,18 8,23 L20,23"/>',
  '<path d="M8,6 C14,2 21,5 19,10 C18,13 14,14 12,14 C16,14 21,16 20,20 C19,25 11,25 8,22"/>',
  '<path d="M17,23 L17,5 L7,17 L21,17"/>',
  '<path d="M19,5 L9,5 L8,13 C12,11 20,12 20,17 C20,23 12,25 8,21"/>',
  '<path d="M18,5 C10,6 7,14 8,19 C9,24 19,24 19,18 C19,13 10,13 8,18"/>',
  '<path d="M7,5 L21,5 L12,23"/>',
  '<circle cx="14" cy="9.5" r="4.5"/><circle cx="14" cy="18.5" r="5"/>',
  '<path d="M19,10 C19,4 9,4 9,10 C9,15 19,15 19,10 L18,23"/>',
];

/** PNG of digit `d` (0-9), `size` px square. */
export async function digitPng(d: number, size = 28): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 28 28">
    <rect width="28" height="28" fill="black"/>
    <g fill="none" stroke="white" stroke-width="2.6" stroke-linecap="round" stroke-linejoin="round">${DIGIT_PATHS[d]}</g></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/** A solid-colour image in the given format. */
export async function solidImage(width: number, height: number, format: 'png' | 'jpeg' | 'webp' = 'png', rgb: [number, number, number] = [120, 60, 200]): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } })
    .toFormat(format)
    .toBuffer();
}
