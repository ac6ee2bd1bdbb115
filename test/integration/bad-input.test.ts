// The bad-input corpus (test/fixtures/bad/, made by scripts/make-bad-corpus.ts) and malformed
// requests, sent while valid images share the same batches: every case gets its documented
// status and a message naming the problem, the valid ones all succeed, and the gateway stays up.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { solidImage } from '../helpers/images.js';
import { FIXTURE_MODELS, REPO_ROOT, type TestGateway, grpcCode, makeRepository, postImage, startTestGateway } from '../helpers/gateway.js';

const BAD = join(REPO_ROOT, 'test', 'fixtures', 'bad');
const bad = (name: string): Buffer => readFileSync(join(BAD, name));

interface Case {
  name: string;
  query?: string;
  body: () => Buffer | string;
  contentType?: string;
  status: number;
  code?: string;
  message?: RegExp;
}

const M = 'model=tiny';
const cases: Case[] = [
  { name: 'zero bytes', body: () => bad('zero-bytes.bin'), contentType: 'application/octet-stream', status: 400, code: 'INVALID_IMAGE', message: /empty/ },
  { name: 'truncated JPEG', body: () => bad('truncated.jpg'), contentType: 'image/jpeg', status: 400, code: 'INVALID_IMAGE', message: /could not be decoded/ },
  { name: 'truncated PNG', body: () => bad('truncated.png'), status: 400, code: 'INVALID_IMAGE', message: /could not be decoded|not an image/ },
  { name: 'wrong magic', body: () => bad('wrong-magic.png'), status: 400, code: 'INVALID_IMAGE' },
  { name: 'PNG claiming 50000x50000 pixels', body: () => bad('bomb-50000x50000.png'), status: 413, code: 'IMAGE_TOO_LARGE', message: /2500000000 pixels; the limit is 40000000 pixels/ },
  { name: 'animated GIF (first frame is classified)', body: () => bad('animated.gif'), contentType: 'image/gif', status: 200 },
  { name: 'CMYK JPEG (converted to sRGB)', body: () => bad('cmyk.jpg'), contentType: 'image/jpeg', status: 200 },
  { name: '16-bit PNG', body: () => bad('16-bit.png'), status: 200 },
  { name: '1x1 image', body: () => bad('1x1.png'), status: 200 },
  { name: 'huge EXIF', body: () => bad('huge-exif.jpg'), contentType: 'image/jpeg', status: 200 },
  { name: 'random bytes', body: () => bad('random-bytes.bin'), contentType: 'application/octet-stream', status: 400, code: 'INVALID_IMAGE', message: /not an image/ },
  { name: 'SVG (never rendered)', body: () => bad('svg-script.svg'), contentType: 'image/svg+xml', status: 400, code: 'INVALID_IMAGE', message: /supported/ },
  { name: 'non-image content type', body: () => bad('text.txt'), contentType: 'text/plain', status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: /text\/plain/ },
  { name: 'text sent as image/png', body: () => bad('text.txt'), status: 400, code: 'INVALID_IMAGE' },
  { name: '20 MB body', body: () => Buffer.alloc(20 * 1024 * 1024, 7), status: 413, code: 'PAYLOAD_TOO_LARGE', message: /10485760/ },
  { name: 'malformed multipart', body: () => '--xyz\r\nContent-Disposition: form-data; name="image"; filen', contentType: 'multipart/form-data; boundary=xyz', status: 400 },
  { name: 'multipart without an image', body: () => '--xyz\r\nContent-Disposition: form-data; name="model"\r\n\r\ntiny\r\n--xyz--\r\n', contentType: 'multipart/form-data; boundary=xyz', status: 400, message: /no "image" file/ },
  { name: 'malformed JSON', query: '', body: () => '{"model": "tiny", "image": "', contentType: 'application/json', status: 400, message: /not valid JSON/ },
  { name: 'JSON that is not an object', query: '', body: () => '[1,2,3]', contentType: 'application/json', status: 400, message: /must be an object/ },
  { name: 'base64 that is not base64', query: '', body: () => JSON.stringify({ model: 'tiny', image: 'not*base64!' }), contentType: 'application/json', status: 400, message: /not valid base64/ },
  { name: 'unknown JSON field', query: '', body: () => JSON.stringify({ model: 'tiny', image: 'AAAA', colour: 'red' }), contentType: 'application/json', status: 400, message: /unknown field "colour"/ },
  { name: 'unknown query parameter', query: `${M}&topk=3`, body: () => bad('1x1.png'), status: 400, message: /unknown parameter "topk"/ },
  { name: 'negative top_k', query: `${M}&top_k=-3`, body: () => bad('1x1.png'), status: 400, message: /top_k/ },
  { name: 'huge top_k', query: `${M}&top_k=1000000000`, body: () => bad('1x1.png'), status: 400, message: /top_k 1000000000 exceeds the limit of 1000/ },
  { name: 'unknown model', query: 'model=nope', body: () => bad('1x1.png'), status: 404, code: 'MODEL_NOT_FOUND' },
  { name: 'unknown version', query: `${M}&version=42`, body: () => bad('1x1.png'), status: 404, code: 'VERSION_NOT_FOUND' },
  { name: 'path-traversal model name', query: `model=${encodeURIComponent('../../etc')}`, body: () => bad('1x1.png'), status: 400, message: /model name/ },
  { name: 'path-traversal version', query: `${M}&version=${encodeURIComponent('../1')}`, body: () => bad('1x1.png'), status: 400, message: /version/ },
  { name: 'invalid UTF-8 in the model name', query: 'model=%FF%FEtiny', body: () => bad('1x1.png'), status: 400, message: /model name/ },
  { name: 'NUL byte in the model name', query: 'model=tiny%00', body: () => bad('1x1.png'), status: 400, message: /model name/ },
];

describe('bad input corpus', () => {
  let gw: TestGateway;
  let valid: Buffer;
  before(async () => {
    gw = await startTestGateway(await makeRepository([{ from: join(FIXTURE_MODELS, 'tiny-dynamic'), as: 'tiny', patch: { batching: { maxBatchSize: 16, maxQueueDelayMs: 20, maxQueueSize: 256 } } }]));
    valid = await solidImage(40, 30, 'jpeg');
  });
  after(() => gw.stop());

  for (const c of cases) {
    it(`HTTP: ${c.name} -> ${c.status}, valid images beside it succeed`, async () => {
      const neighbours = Array.from({ length: 4 }, () => postImage(gw.http, M, valid, 'image/jpeg'));
      const res = await postImage(gw.http, c.query ?? M, c.body(), c.contentType ?? 'image/png');
      assert.equal(res.status, c.status, JSON.stringify(res.json));
      if (c.status !== 200) {
        const error = res.json['error'] as { code: string; message: string };
        if (c.code) assert.equal(error.code, c.code);
        if (c.message) assert.match(error.message, c.message);
      }
      const others = await Promise.all(neighbours);
      assert.deepEqual(others.map((o) => o.status), [200, 200, 200, 200]);
    });
  }

  it('gRPC: the corpus files get the same verdicts', async () => {
    const expectations: [string, grpc.status | 'ok'][] = [
      ['zero-bytes.bin', grpc.status.INVALID_ARGUMENT],
      ['truncated.jpg', grpc.status.INVALID_ARGUMENT],
      ['truncated.png', grpc.status.INVALID_ARGUMENT],
      ['wrong-magic.png', grpc.status.INVALID_ARGUMENT],
      ['bomb-50000x50000.png', grpc.status.INVALID_ARGUMENT],
      ['animated.gif', 'ok'],
      ['cmyk.jpg', 'ok'],
      ['16-bit.png', 'ok'],
      ['1x1.png', 'ok'],
      ['huge-exif.jpg', 'ok'],
      ['random-bytes.bin', grpc.status.INVALID_ARGUMENT],
      ['svg-script.svg', grpc.status.INVALID_ARGUMENT],
    ];
    const results = await Promise.all(
      expectations.map(([file]) => gw.client.classify({ model: 'tiny', image: bad(file) }).then(() => 'ok' as const, (err: unknown) => grpcCode(err))),
    );
    assert.deepEqual(results, expectations.map(([, want]) => want));
    await assert.rejects(gw.client.classify({ model: 'tiny', image: Buffer.alloc(20 * 1024 * 1024, 7) }), (err) => grpcCode(err) === grpc.status.RESOURCE_EXHAUSTED);
    await assert.rejects(gw.client.classify({ model: 'tiny\u0000', image: valid }), (err) => grpcCode(err) === grpc.status.INVALID_ARGUMENT);
    await assert.rejects(gw.client.classify({ model: 'tiny', image: valid, top_k: 4_000_000_000 }), (err) => grpcCode(err) === grpc.status.INVALID_ARGUMENT);
  });

  it('is still up and serving after the whole corpus', async () => {
    assert.equal((await fetch(`${gw.http}/healthz`)).status, 200);
    assert.equal((await gw.client.classify({ model: 'tiny', image: valid })).labels.length, 4);
  });
});

describe('bad zero-shot labels', () => {
  let gw: TestGateway;
  let image: string;
  before(async () => {
    gw = await startTestGateway(await makeRepository([{ from: join(FIXTURE_MODELS, 'tiny-clip') }]));
    image = (await solidImage(32, 32)).toString('base64');
  });
  after(() => gw.stop());

  const zeroShot = async (labels: unknown): Promise<{ status: number; message: string }> => {
    const res = await fetch(`${gw.http}/v1/zero-shot`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tiny-clip', image, labels }) });
    const body = (await res.json()) as { error?: { message: string } };
    return { status: res.status, message: body.error?.message ?? '' };
  };

  it('refuses an empty label, naming it', async () => {
    const r = await zeroShot(['cat', '', 'dog']);
    assert.equal(r.status, 400);
    assert.match(r.message, /empty/i);
  });

  it('refuses 10 000 labels, naming the limit', async () => {
    const r = await zeroShot(Array.from({ length: 10_000 }, (_, i) => `label ${i}`));
    assert.equal(r.status, 400);
    assert.match(r.message, /256/);
  });

  it('refuses a 1 MB label, naming the limit', async () => {
    const r = await zeroShot(['x'.repeat(1024 * 1024)]);
    assert.ok(r.status === 400 || r.status === 413, String(r.status));
    assert.match(r.message, /\d/);
  });

  it('refuses labels with NUL bytes or invalid UTF-8 gracefully, and keeps serving', async () => {
    const nul = await zeroShot(['ca\u0000t']);
    assert.ok(nul.status === 200 || nul.status === 400, String(nul.status));
    const res = await fetch(`${gw.http}/v1/zero-shot`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.concat([Buffer.from(`{"model":"tiny-clip","image":"${image}","labels":["`), Buffer.from([0xff, 0xfe]), Buffer.from('"]}')]) as BodyInit });
    assert.ok(res.status === 200 || res.status === 400, String(res.status));
    assert.equal((await zeroShot(['cat', 'dog'])).status, 200);
  });
});
