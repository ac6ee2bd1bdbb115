// A zero-shot request at every documented limit at once (the largest image, the most labels, each
// label at its longest, templates too) is served on every transport: JSON (base64 image), multipart
// (labels as repeated fields and as one comma-separated field) and gRPC. The body, field and
// message limits are sized from the image and text limits, so only a request beyond a documented
// limit is refused, and then with the limit named.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import sharp from 'sharp';
import { FIXTURE_MODELS, type TestGateway, makeRepository, startTestGateway } from '../helpers/gateway.js';

const MAX_IMAGE_BYTES = 300_000;
const MAX_LABELS = 256;
const MAX_LABEL_CHARS = 1000;

interface ZeroShotJson {
  labels: { label: string; score: number }[];
  truncated?: string[];
  error?: { code: string; message: string };
}

describe('zero-shot requests at every limit at once', () => {
  let gw: TestGateway;
  let image: Buffer;
  let labels: string[];
  // 256 labels x 4 templates is 1,024 text-tower runs: on a loaded 2-core machine that outlasts the
  // default 10 s request timeout, and this test is about size limits, not time: the longest deadline.
  const patient = { 'x-request-timeout-ms': '60000' };
  const templates = Array.from({ length: 4 }, (_, i) => `${'a picture '.repeat(98)}of a {} (${i}).`.slice(-MAX_LABEL_CHARS));

  before(async () => {
    gw = await startTestGateway(await makeRepository([{ from: join(FIXTURE_MODELS, 'tiny-clip'), as: 'clip' }]), {
      maxImageBytes: MAX_IMAGE_BYTES,
      zeroShotMaxLabels: MAX_LABELS,
      zeroShotMaxLabelChars: MAX_LABEL_CHARS,
    });
    // Noise does not compress: an image just under the byte limit.
    image = await sharp({ create: { width: 310, height: 310, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 60 } } }).png({ compressionLevel: 0 }).toBuffer();
    assert.ok(image.length > MAX_IMAGE_BYTES * 0.9 && image.length <= MAX_IMAGE_BYTES, `image of ${image.length} bytes`);
    // Labels with commas would split in the comma-separated form: none here.
    labels = Array.from({ length: MAX_LABELS }, (_, i) => `label ${i} ${'é'.repeat(MAX_LABEL_CHARS)}`.slice(0, MAX_LABEL_CHARS));
  });
  after(() => gw.stop());

  const check = (status: number, json: ZeroShotJson): void => {
    assert.equal(status, 200, JSON.stringify(json.error));
    assert.equal(json.labels.length, MAX_LABELS);
    assert.equal(json.truncated?.length, MAX_LABELS, 'every prompt is longer than the context length');
  };

  it('JSON with a base64 image', async () => {
    const res = await fetch(`${gw.http}/v1/zero-shot`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...patient },
      body: JSON.stringify({ model: 'clip', image: image.toString('base64'), labels, templates }),
    });
    check(res.status, (await res.json()) as ZeroShotJson);
  });

  it('multipart with every label as its own field', async () => {
    const form = new FormData();
    form.set('image', new Blob([new Uint8Array(image)], { type: 'image/png' }), 'max.png');
    form.set('model', 'clip');
    for (const label of labels) form.append('labels', label);
    for (const template of templates) form.append('template', template);
    const res = await fetch(`${gw.http}/v1/zero-shot`, { method: 'POST', headers: patient, body: form });
    check(res.status, (await res.json()) as ZeroShotJson);
  });

  it('multipart with the labels comma-separated in one field', async () => {
    const form = new FormData();
    form.set('image', new Blob([new Uint8Array(image)], { type: 'image/png' }), 'max.png');
    form.set('model', 'clip');
    form.set('labels', labels.join(','));
    const res = await fetch(`${gw.http}/v1/zero-shot`, { method: 'POST', headers: patient, body: form });
    check(res.status, (await res.json()) as ZeroShotJson);
  });

  it('gRPC ZeroShotClassify', async () => {
    const reply = await new Promise<ZeroShotJson>((resolve, reject) =>
      gw.client.raw['ZeroShotClassify']!({ model: 'clip', image, labels, templates }, new grpc.Metadata(), { deadline: Date.now() + 60_000 }, (err: grpc.ServiceError | null, r: ZeroShotJson) => (err ? reject(err) : resolve(r))),
    );
    assert.equal(reply.labels.length, MAX_LABELS);
  });

  it('one label more is refused with the limit named', async () => {
    const res = await fetch(`${gw.http}/v1/zero-shot`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'clip', image: image.toString('base64'), labels: [...labels, 'one more'] }),
    });
    const json = (await res.json()) as ZeroShotJson;
    assert.equal(res.status, 400);
    assert.match(json.error!.message, /256/);
  });
});
