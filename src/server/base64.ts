// Strict base64 for every place a client sends bytes as text (the "image" field of /v1 JSON,
// BYTES elements of KServe v2 JSON): the standard or URL-safe alphabet, whitespace ignored, and
// anything else refused with the catalog's error naming where it was, never silently skipped as
// Node's lenient decoder would.
import { invalidBase64, tooLarge } from '../errors.js';

/**
 * Decodes strict base64; INVALID_ARGUMENT naming `where` (and `hint`, what belongs there)
 * otherwise. With `maxBytes`, text that would decode to more is refused before decoding.
 */
export function decodeBase64(text: string, where: string, options: { readonly hint?: string; readonly maxBytes?: number } = {}): Buffer {
  const clean = text.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(clean) || clean.length % 4 === 1) throw invalidBase64({ where, hint: options.hint });
  // Up to two padding characters make the estimate larger than the decoded size, never smaller.
  if (options.maxBytes !== undefined && Math.floor((clean.length * 3) / 4) > options.maxBytes + 2) throw tooLarge({ what: `${where} decoded`, limitBytes: options.maxBytes });
  return Buffer.from(clean, clean.includes('-') || clean.includes('_') ? 'base64url' : 'base64');
}
