// The CLIP tokenizer against reference vectors (third_party/clip/clip_token_vectors.json:
// transformers.js' published CLIP tokenization tests and ids computed with OpenAI's
// simple_tokenizer), plus CLIP's truncation and padding rules.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { ClipTokenizer, cleanText } from '../../src/models/tokenizer.js';
import { REPO_ROOT } from '../helpers/gateway.js';

const CLIP_DATA = join(REPO_ROOT, 'third_party', 'clip');

interface Vector {
  readonly text: string;
  readonly ids: readonly number[];
  readonly name?: string;
}

describe('CLIP tokenizer', () => {
  let tokenizer: ClipTokenizer;
  let vectors: Vector[];
  let tokenizerJson: unknown;

  before(async () => {
    tokenizer = await ClipTokenizer.load(join(CLIP_DATA, 'tokenizer.json'), { contextLength: 77, padTokenId: 49407 });
    tokenizerJson = JSON.parse(await readFile(join(CLIP_DATA, 'tokenizer.json'), 'utf8')) as unknown;
    const file = JSON.parse(await readFile(join(CLIP_DATA, 'clip_token_vectors.json'), 'utf8')) as { published: Vector[]; computed: Vector[] };
    vectors = [...file.published, ...file.computed];
  });

  it('uses start 49406 and end 49407', () => {
    assert.equal(tokenizer.startTokenId, 49406);
    assert.equal(tokenizer.endTokenId, 49407);
  });

  it('matches every reference vector (unpadded ids)', () => {
    assert.ok(vectors.length >= 30, `only ${vectors.length} vectors`);
    for (const v of vectors) assert.deepEqual(tokenizer.encodeUnpadded(v.text), [...v.ids], `text ${JSON.stringify(v.text)}`);
  });

  it('pads to the context length with the pad id and reports the real length', () => {
    const p = tokenizer.encode('a photo of a cat');
    assert.equal(p.ids.length, 77);
    assert.deepEqual(p.ids.slice(0, 7), [49406, 320, 1125, 539, 320, 2368, 49407]);
    assert.equal(p.length, 7);
    assert.ok(p.ids.slice(7).every((id) => id === 49407));
    assert.equal(p.truncated, false);
    const zeroPad = ClipTokenizer.fromJson(tokenizerJson, { contextLength: 77, padTokenId: 0 });
    assert.ok(zeroPad.encode('a cat').ids.slice(4).every((id) => id === 0));
  });

  it('truncates over-long prompts to the context length, keeping the end token', () => {
    const long = Array.from({ length: 100 }, () => 'cat').join(' ');
    const p = tokenizer.encode(long);
    assert.equal(p.truncated, true);
    assert.equal(p.ids.length, 77);
    assert.equal(p.length, 77);
    assert.equal(p.ids[0], 49406);
    assert.equal(p.ids[76], 49407);
    assert.ok(p.ids.slice(1, 76).every((id) => id === 2368));
    const exact = tokenizer.encode(Array.from({ length: 75 }, () => 'cat').join(' '));
    assert.equal(exact.truncated, false);
    assert.equal(exact.length, 77);
  });

  it('cleans whitespace and case as CLIP does', () => {
    assert.equal(cleanText('  A\tPhoto\n of  a CAT '), 'a photo of a cat');
    assert.deepEqual(tokenizer.encode('  A\tPhoto\n of  a CAT ').ids, tokenizer.encode('a photo of a cat').ids);
  });
});
