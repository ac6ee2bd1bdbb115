// Label sets on a real gateway (models/miniclip-shapes, loopback HTTP and gRPC): a set scores
// exactly as the same labels given ad hoc (softmax and calibrated multi-label), from a file or
// PUT; registration is atomic (a failing PUT leaves the old set serving, requests during a PUT
// see the old or the new set, never a mix); bad files and bodies are refused with their line
// number while the model keeps serving; unchanged files survive a reload without re-encoding;
// only admin keys may change sets.
import assert from 'node:assert/strict';
import { cp, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { GatewayClient } from '../../src/client/index.js';
import { hashApiKey } from '../../src/server/auth.js';
import { type TestGateway, ZOO_MODELS, makeRepository, startTestGateway } from '../helpers/gateway.js';
import { solidImage } from '../helpers/images.js';

const MODEL = 'miniclip-shapes';
const COLOURS = ['red', 'orange', 'yellow', 'green', 'cyan', 'blue', 'purple', 'pink', 'black', 'white'];
const SHAPES = ['circle', 'star', 'square', 'triangle', 'hexagon'];
const LABELS = COLOURS.flatMap((c) => SHAPES.map((s) => `${c} ${s}`)); // 50
const OTHER = COLOURS.flatMap((c) => [`${c} cross`, `${c} heart`, `${c} ring`]); // 30, none in LABELS
const TEMPLATE = 'a drawing of a {}.';

interface Scored {
  labels: { label: string; score: number }[];
}

async function json(res: Response): Promise<{ status: number; body: Record<string, unknown> }> {
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('label sets (miniclip-shapes)', () => {
  let gw: TestGateway;
  let image64: string;
  let image: Buffer;

  const put = (name: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> =>
    fetch(`${gw.http}/v1/label-sets/${name}`, {
      method: 'PUT',
      headers: { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    }).then(json);
  const zeroShot = async (fields: Record<string, unknown>): Promise<Scored> => {
    const { status, body } = await fetch(`${gw.http}/v1/zero-shot`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ image: image64, ...fields }) }).then(json);
    assert.equal(status, 200, JSON.stringify(body));
    return body as unknown as Scored;
  };
  const assertSameScores = (a: Scored, b: Scored): void => {
    assert.deepEqual(
      a.labels.map((l) => l.label),
      b.labels.map((l) => l.label),
    );
    a.labels.forEach((l, i) => assert.ok(Math.abs(l.score - b.labels[i]!.score) < 1e-5, `${l.label}: ${l.score} vs ${b.labels[i]!.score}`));
  };

  before(async () => {
    const repo = await makeRepository([{ from: join(ZOO_MODELS, MODEL) }]);
    const dir = join(repo, MODEL, 'labelsets');
    await mkdir(dir);
    await writeFile(join(dir, 'colours.txt'), `# colour x shape\n#template: ${TEMPLATE}\n${LABELS.join('\n')}\n`);
    await writeFile(join(dir, 'broken.txt'), 'red circle\nblue star\n\ngreen square\n');
    gw = await startTestGateway(repo, { adminApi: true, labelSetMaxLabels: 400, zeroShotMaxLabels: 256 });
    image = await solidImage(64, 64, 'png', [200, 30, 30]);
    image64 = image.toString('base64');
  });
  after(() => gw?.stop());

  it('registers label-set files at load and lists a bad one with its line number', async () => {
    const { status, body } = await fetch(`${gw.http}/v1/label-sets`).then(json);
    assert.equal(status, 200);
    const sets = body['label_sets'] as { name: string; source: string; labels_count: number; templates: string[]; encoded_at: Record<string, string> }[];
    const colours = sets.find((s) => s.name === 'colours');
    assert.ok(colours, JSON.stringify(body));
    assert.equal(colours.source, 'file');
    assert.equal(colours.labels_count, LABELS.length);
    assert.deepEqual(colours.templates, [TEMPLATE]);
    assert.ok(colours.encoded_at['1']);
    assert.equal(sets.find((s) => s.name === 'broken'), undefined);
    const errors = body['errors'] as { name: string; error: string }[];
    assert.match(errors.find((e) => e.name === 'broken')!.error, /labelsets\/broken\.txt: line 3 is empty/);
  });

  it('a file set with a template scores as the same labels and template given ad hoc (softmax and multi-label)', async () => {
    for (const multi_label of [false, true]) {
      const fromSet = await zeroShot({ label_set: 'colours', top_k: LABELS.length, multi_label });
      const adHoc = await zeroShot({ labels: LABELS, template: TEMPLATE, multi_label });
      assertSameScores(fromSet, adHoc);
    }
  });

  it('a PUT set scores as ad-hoc labels, over HTTP and gRPC, with top_k chosen from the whole set', async () => {
    const { status, body } = await put('shapes', { model: MODEL, labels: LABELS });
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body['source'], 'api');
    assert.equal(body['matrix_bytes'], LABELS.length * 128 * 4);
    const adHoc = await zeroShot({ labels: LABELS });
    assertSameScores(await zeroShot({ label_set: 'shapes', top_k: LABELS.length }), adHoc);
    const top3 = await zeroShot({ label_set: 'shapes', top_k: 3 });
    assertSameScores(top3, { labels: adHoc.labels.slice(0, 3) });
    const multi = await zeroShot({ labels: LABELS, multi_label: true });
    assertSameScores(await zeroShot({ label_set: 'shapes', top_k: 7, multi_label: true }), { labels: multi.labels.slice(0, 7) });
    const reply = await new Promise<Scored>((resolve, reject) =>
      gw.client.raw['ZeroShotClassify']!({ model: MODEL, image, label_set: 'shapes', top_k: 5 }, new grpc.Metadata(), {}, (err: grpc.ServiceError | null, r: Scored) => (err ? reject(err) : resolve(r))),
    );
    assert.deepEqual(
      reply.labels.map((l) => l.label),
      adHoc.labels.slice(0, 5).map((l) => l.label),
    );
    reply.labels.forEach((l, i) => assert.ok(Math.abs(l.score - adHoc.labels[i]!.score) < 1e-5));
  });

  it('the typed client names a label set on both transports', async () => {
    const adHoc = await zeroShot({ labels: LABELS, top_k: 3 });
    for (const transport of ['grpc', 'http'] as const) {
      const client = new GatewayClient({ transport, address: transport === 'grpc' ? `127.0.0.1:${gw.gateway.grpcPort}` : gw.http });
      try {
        const answer = await client.zeroShot({ model: MODEL, image, labelSet: 'shapes', topK: 3 });
        assert.deepEqual(
          answer.labels.map((l) => l.label),
          adHoc.labels.map((l) => l.label),
          transport,
        );
      } finally {
        client.close();
      }
    }
  });

  it('label sets go beyond the ad-hoc label limit, up to their own limit', async () => {
    const many = Array.from({ length: 300 }, (_, i) => `shape number ${i}`);
    const res = await fetch(`${gw.http}/v1/zero-shot`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ image: image64, labels: many }) }).then(json);
    assert.equal(res.status, 400);
    assert.equal((await put('many', { labels: many })).status, 200);
    assert.equal((await zeroShot({ label_set: 'many', top_k: 10 })).labels.length, 10);
    const tooMany = await put('too-many', { labels: [...many, ...Array.from({ length: 101 }, (_, i) => `more ${i}`)] });
    assert.equal(tooMany.status, 400);
    assert.match(JSON.stringify(tooMany.body), /too many labels: 401 given, the limit is 400/);
  });

  it('refuses bad text bodies with their line number; the previous set and the model keep serving', async () => {
    assert.equal((await put('shapes', LABELS.join('\n'))).status, 200);
    const before = await zeroShot({ label_set: 'shapes', top_k: 5 });
    const cases: [string, RegExp][] = [
      ['red circle\nblue star\n\ngreen square\n', /line 3 is empty/],
      ['red circle\nblue star\nRed  Circle\n', /line 3: label "Red {2}Circle" duplicates line 1/],
      [`red circle\n${'x'.repeat(1001)}\n`, /line 2: label is 1001 characters long; the limit is 1000/],
      ['#template: a photo of a thing\nred circle\n', /line 1: template "a photo of a thing" has no "\{\}"/],
    ];
    for (const [text, message] of cases) {
      const { status, body } = await put('shapes', text);
      assert.equal(status, 400, text);
      assert.equal((body['error'] as { code: string }).code, 'INVALID_ARGUMENT');
      assert.match((body['error'] as { message: string }).message, message);
    }
    assertSameScores(await zeroShot({ label_set: 'shapes', top_k: 5 }), before);
  });

  it('a registration that fails leaves the previous set whole', async () => {
    assert.equal((await put('atomic', { labels: LABELS })).status, 200);
    const hash = ((await fetch(`${gw.http}/v1/label-sets/atomic`).then(json)).body['hash']) as string;
    const replacement = Array.from({ length: 300 }, (_, i) => `replacement ${i}`);
    const failed = await put('atomic', { labels: replacement }, { 'x-request-timeout-ms': '1' });
    assert.equal(failed.status, 504, JSON.stringify(failed.body));
    const after = await fetch(`${gw.http}/v1/label-sets/atomic`).then(json);
    assert.equal(after.body['hash'], hash);
    assert.deepEqual(after.body['labels'], LABELS);
    const answer = await zeroShot({ label_set: 'atomic', top_k: 50 });
    assert.ok(answer.labels.every((l) => LABELS.includes(l.label)));
  });

  it('requests during a PUT see the old set or the new one, never a mix', async () => {
    assert.equal((await put('swap', { labels: LABELS })).status, 200);
    const replacement = Array.from({ length: 400 }, (_, i) => OTHER[i % OTHER.length]! + (i < OTHER.length ? '' : ` ${i}`));
    let done = false;
    const seen = { old: 0, new: 0 };
    const registering = put('swap', { labels: replacement }).finally(() => (done = true));
    const check = async (): Promise<void> => {
      while (!done) {
        const answer = await zeroShot({ label_set: 'swap', top_k: 20 });
        const fromOld = answer.labels.filter((l) => LABELS.includes(l.label)).length;
        assert.ok(fromOld === 0 || fromOld === answer.labels.length, `mixed answer: ${JSON.stringify(answer.labels.map((l) => l.label))}`);
        seen[fromOld > 0 ? 'old' : 'new']++;
      }
    };
    await Promise.all([check(), check(), check()]);
    assert.equal((await registering).status, 200);
    assert.ok(seen.old > 0, 'some requests ran during the registration');
    const afterPut = await zeroShot({ label_set: 'swap', top_k: 20 });
    assert.ok(afterPut.labels.every((l) => replacement.includes(l.label)));
  });

  it('an unchanged file survives a reload without re-encoding; a changed one is re-encoded; DELETE removes a set', async () => {
    const get = async (name: string): Promise<Record<string, unknown>> => (await fetch(`${gw.http}/v1/label-sets/${name}`).then(json)).body;
    const before = await get('colours');
    assert.equal((await fetch(`${gw.http}/v1/admin/reload`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status, 200);
    const same = await get('colours');
    assert.deepEqual(same['encoded_at'], before['encoded_at']);
    assert.equal(same['registered_at'], before['registered_at']);
    await writeFile(join(gw.modelsDir, MODEL, 'labelsets', 'colours.txt'), `${LABELS.slice(0, 10).join('\n')}\n`);
    await fetch(`${gw.http}/v1/admin/reload`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    const changed = await get('colours');
    assert.equal(changed['labels_count'], 10);
    assert.notEqual(changed['hash'], before['hash']);
    assert.deepEqual((await zeroShot({ label_set: 'colours', top_k: 10 })).labels.map((l) => l.label).sort(), LABELS.slice(0, 10).sort());

    assert.equal((await fetch(`${gw.http}/v1/label-sets/many`, { method: 'DELETE' })).status, 200);
    const gone = await fetch(`${gw.http}/v1/zero-shot`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ image: image64, label_set: 'many' }) }).then(json);
    assert.equal(gone.status, 404);
    assert.match(JSON.stringify(gone.body), /label set \\"many\\" is not registered/);
  });

  it('a version loaded by a reload gets every set\'s matrix (PUT sets too) before the reload answers', async () => {
    await cp(join(gw.modelsDir, MODEL, '1'), join(gw.modelsDir, MODEL, '2'), { recursive: true });
    assert.equal((await fetch(`${gw.http}/v1/admin/reload`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status, 200);
    for (const name of ['shapes', 'colours']) {
      const encoded = (await fetch(`${gw.http}/v1/label-sets/${name}`).then(json)).body['encoded_at'] as Record<string, string>;
      assert.ok(encoded['2'], `${name}: ${JSON.stringify(encoded)}`);
    }
    const answer = await zeroShot({ label_set: 'shapes', top_k: 3, version: 2 });
    assert.equal(answer.labels.length, 3);
  });

  it('refuses labels with label_set, and templates with label_set', async () => {
    for (const extra of [{ labels: ['red circle'] }, { templates: ['a {}'] }]) {
      const res = await fetch(`${gw.http}/v1/zero-shot`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ image: image64, label_set: 'shapes', ...extra }) }).then(json);
      assert.equal(res.status, 400);
    }
  });
});

describe('label sets with API keys', () => {
  let gw: TestGateway;
  before(async () => {
    const apiKeys = [
      { name: 'user', sha256: hashApiKey('user-key'), models: ['*'], requestsPerSecond: 0, burst: 10 },
      { name: 'ops', sha256: hashApiKey('admin-key'), models: ['*'], requestsPerSecond: 0, burst: 10, admin: true },
    ];
    gw = await startTestGateway(await makeRepository([{ from: join(ZOO_MODELS, MODEL) }]), { adminApi: true, apiKeys });
  });
  after(() => gw?.stop());

  it('only an admin key may register or delete; any key may read', async () => {
    const body = JSON.stringify({ labels: ['red circle', 'blue star'] });
    const as = (key: string, method: string): Promise<Response> => fetch(`${gw.http}/v1/label-sets/pair`, { method, headers: { authorization: `Bearer ${key}`, ...(method === 'PUT' ? { 'content-type': 'application/json' } : {}) }, ...(method === 'PUT' ? { body } : {}) });
    assert.equal((await as('user-key', 'PUT')).status, 403);
    assert.equal((await fetch(`${gw.http}/v1/label-sets/pair`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body })).status, 401);
    assert.equal((await as('admin-key', 'PUT')).status, 200);
    assert.equal((await as('user-key', 'GET')).status, 200);
    assert.equal((await as('user-key', 'DELETE')).status, 403);
    assert.equal((await as('admin-key', 'DELETE')).status, 200);
  });
});
