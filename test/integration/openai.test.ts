// POST /v1/embeddings as OpenAI's users call it: the official `openai` npm client, pointed at a
// real gateway with baseURL (and the gateway's API key as its apiKey), gets the vectors /v1/embed
// gives, in both encodings, for texts and for images (modality "image"), with real CLIP token
// counts; and its error handling sees our 400 and 404 as OpenAI error objects.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import OpenAI, { APIError } from 'openai';
import { hashApiKey } from '../../src/server/auth.js';
import { type TestGateway, ZOO_MODELS, makeRepository, startTestGateway } from '../helpers/gateway.js';

const CLIP = 'miniclip-shapes';
const CLASSIFIER = 'shapes-mobilenetv3';
const KEY = 'openai-test-key-0123456789abcdef';
const PNG = readFileSync(join(ZOO_MODELS, CLASSIFIER, '1', 'golden', '0.png'));
const TEXTS = ['a red circle', 'a blue square on a white background'];

function close(a: readonly number[], b: readonly number[], tolerance = 1e-6): boolean {
  return a.length === b.length && a.every((v, i) => Math.abs(v - b[i]!) <= tolerance);
}

describe('OpenAI-compatible /v1/embeddings', () => {
  let gw: TestGateway;
  let openai: OpenAI;
  let embed: (body: object) => Promise<{ image_embedding?: number[]; text_embeddings?: number[][] }>;
  before(async () => {
    gw = await startTestGateway(await makeRepository([{ from: join(ZOO_MODELS, CLIP) }, { from: join(ZOO_MODELS, CLASSIFIER) }]), {
      apiKeys: [{ name: 'openai', sha256: hashApiKey(KEY), models: ['*'], requestsPerSecond: 0, burst: 100 }],
    });
    openai = new OpenAI({ apiKey: KEY, baseURL: `${gw.http}/v1`, maxRetries: 0 });
    embed = async (body) => {
      const res = await fetch(`${gw.http}/v1/embed`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` }, body: JSON.stringify({ model: CLIP, ...body }) });
      assert.equal(res.status, 200);
      return (await res.json()) as { image_embedding?: number[]; text_embeddings?: number[][] };
    };
  });
  after(() => gw.stop());

  it('texts: the vectors of /v1/embed, whether the client asks for base64 (its default) or floats', async () => {
    const expected = (await embed({ texts: TEXTS })).text_embeddings!;
    for (const encoding_format of [undefined, 'float'] as const) {
      const answer = await openai.embeddings.create({ model: CLIP, input: TEXTS, ...(encoding_format ? { encoding_format } : {}) });
      assert.equal(answer.object, 'list');
      assert.equal(answer.model, CLIP);
      assert.deepEqual(answer.data.map((d) => [d.object, d.index]), [['embedding', 0], ['embedding', 1]]);
      answer.data.forEach((d, i) => assert.ok(close(d.embedding, expected[i]!), `input ${i} (${encoding_format ?? 'base64'})`));
    }
  });

  it('usage counts the CLIP tokens the text tower read', async () => {
    // <|startoftext|> a red circle <|endoftext|>
    const one = await openai.embeddings.create({ model: CLIP, input: 'a red circle' });
    assert.deepEqual(one.usage, { prompt_tokens: 5, total_tokens: 5 });
    const two = await openai.embeddings.create({ model: CLIP, input: ['a red circle', 'a red circle'] });
    assert.equal(two.usage.prompt_tokens, 10);
  });

  it('images as data URIs with modality "image" (as Infinity takes them): the image vectors of /v1/embed', async () => {
    const expected = (await embed({ image: PNG.toString('base64') })).image_embedding!;
    const input = [`data:image/png;base64,${PNG.toString('base64')}`, PNG.toString('base64')];
    // `modality` is not in OpenAI's types; the client sends extra body fields as given.
    const answer = await openai.embeddings.create({ model: CLIP, input, modality: 'image' } as OpenAI.EmbeddingCreateParams);
    assert.equal(answer.data.length, 2);
    for (const d of answer.data) assert.ok(close(d.embedding, expected, 1e-5));
    assert.deepEqual(answer.usage, { prompt_tokens: 0, total_tokens: 0 });
  });

  it('dimensions: the first values, L2-normalized again', async () => {
    const full = (await openai.embeddings.create({ model: CLIP, input: TEXTS[0]! })).data[0]!.embedding;
    const short = (await openai.embeddings.create({ model: CLIP, input: TEXTS[0]!, dimensions: 3 })).data[0]!.embedding;
    assert.equal(short.length, 3);
    assert.ok(Math.abs(Math.hypot(...short) - 1) < 1e-5);
    const norm = Math.hypot(...full.slice(0, 3));
    assert.ok(close(short, full.slice(0, 3).map((v) => v / norm), 1e-5));
  });

  it("the client's error handling sees 404 and 400 as OpenAI error objects, naming the param", async () => {
    const cases: [OpenAI.EmbeddingCreateParams, abstract new (...args: never[]) => APIError, number, string, string | null, RegExp][] = [
      [{ model: 'nope', input: 'x' }, OpenAI.NotFoundError, 404, 'model_not_found', 'model', /model "nope" not found/],
      [{ model: CLASSIFIER, input: 'x' }, OpenAI.BadRequestError, 400, 'invalid_argument', null, /is a image-classifier model|image-classifier/],
      [{ model: CLIP, input: [] }, OpenAI.BadRequestError, 400, 'invalid_argument', 'input', /input/],
      [{ model: CLIP, input: 'x', dimensions: 100_000 }, OpenAI.BadRequestError, 400, 'invalid_argument', 'dimensions', /exceeds the model's embedding size/],
      [{ model: CLIP, input: 'https://example.com/cat.png', modality: 'image' } as OpenAI.EmbeddingCreateParams, OpenAI.BadRequestError, 400, 'invalid_argument', 'input', /fetches nothing/],
      [{ model: CLIP, input: 'x', encoding_format: 'int8' as 'float' }, OpenAI.BadRequestError, 400, 'invalid_argument', 'encoding_format', /encoding_format/],
    ];
    for (const [body, type, status, code, param, message] of cases) {
      await assert.rejects(openai.embeddings.create(body), (err: unknown) => {
        assert.ok(err instanceof type && err instanceof APIError, `${JSON.stringify(body)}: ${String(err)}`);
        assert.equal(err.status, status);
        assert.equal(err.code, code);
        assert.equal(err.param, param, JSON.stringify(body));
        assert.equal(err.type, status === 404 ? 'not_found_error' : 'invalid_request_error');
        assert.match(err.message, message);
        return true;
      });
    }
    const noKey = new OpenAI({ apiKey: 'wrong-key-0123456789abcdef', baseURL: `${gw.http}/v1`, maxRetries: 0 });
    await assert.rejects(noKey.embeddings.create({ model: CLIP, input: 'x' }), (err: unknown) => err instanceof OpenAI.AuthenticationError && err.type === 'authentication_error');
  });
});
