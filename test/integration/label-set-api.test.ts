// Label-set management beyond HTTP, on a real gateway (models/miniclip-shapes, admin API and API
// keys on): gateway.v1 ListLabelSets, GetLabelSet, PutLabelSet and DeleteLabelSet over a plain
// grpc-js client with the project's proto answer what the HTTP routes answer, guarded by the same
// admin keys; a set registered over gRPC scores as the same labels given ad hoc; and the typed
// client's label-set calls give the same messages and typed errors on both transports.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { GatewayClient as TypedClient, GatewayClientError } from '../../src/client/index.js';
import { hashApiKey } from '../../src/server/auth.js';
import { type TestGateway, ZOO_MODELS, grpcCode, makeRepository, startTestGateway } from '../helpers/gateway.js';
import { solidImage } from '../helpers/images.js';

const MODEL = 'miniclip-shapes';
const USER_KEY = 'label-set-user-key-0123456789';
const ADMIN_KEY = 'label-set-admin-key-0123456789';
const FILE_LABELS = ['red circle', 'blue star', 'green square', 'yellow triangle'];
const LABELS = ['red hexagon', 'orange star', 'purple circle', 'white square', 'black triangle', 'pink heart'];

interface LabelSetMsg {
  model: string;
  name: string;
  source: string;
  labels_count: number;
  templates: string[];
  hash: string;
  registered_at: string;
  encoded_at: Record<string, string>;
  matrix_bytes: string;
  labels: string[];
}

interface Scored {
  labels: { label: string; score: number }[];
}

describe('label sets over gRPC and the typed client', () => {
  let gw: TestGateway;
  let image: Buffer;
  const clients: TypedClient[] = [];

  /** One unary gateway.v1 call with the project's proto, as `key` (none = no credentials). */
  const call = <T>(method: string, request: object, key?: string): Promise<T> => {
    const metadata = new grpc.Metadata();
    if (key) metadata.set('authorization', `Bearer ${key}`);
    return new Promise((resolve, reject) => {
      gw.client.raw[method]!(request, metadata, {}, (err: grpc.ServiceError | null, reply: T) => (err ? reject(err) : resolve(reply)));
    });
  };
  const http = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> => {
    const headers: Record<string, string> = { authorization: `Bearer ${ADMIN_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) };
    const res = await fetch(`${gw.http}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  /** A failed call's status and catalog code (the x-error-code trailer). */
  const failure = (err: unknown): [grpc.status, string] => [grpcCode(err), String((err as grpc.ServiceError).metadata?.get('x-error-code')[0] ?? '')];
  const typed = (transport: 'grpc' | 'http', apiKey = ADMIN_KEY): TypedClient => {
    const client = new TypedClient({ transport, address: transport === 'grpc' ? `127.0.0.1:${gw.gateway.grpcPort}` : gw.http, apiKey, retry: { maxAttempts: 1 } });
    clients.push(client);
    return client;
  };

  before(async () => {
    const repo = await makeRepository([{ from: join(ZOO_MODELS, MODEL) }]);
    await mkdir(join(repo, MODEL, 'labelsets'));
    await writeFile(join(repo, MODEL, 'labelsets', 'basic.txt'), `#template: a drawing of a {}.\n${FILE_LABELS.join('\n')}\n`);
    await writeFile(join(repo, MODEL, 'labelsets', 'broken.txt'), 'red circle\n#template: no placeholder\n');
    gw = await startTestGateway(repo, {
      adminApi: true,
      apiKeys: [
        { name: 'user', sha256: hashApiKey(USER_KEY), models: ['*'], requestsPerSecond: 0, burst: 100 },
        { name: 'ops', sha256: hashApiKey(ADMIN_KEY), models: ['*'], requestsPerSecond: 0, burst: 100, admin: true },
      ],
    });
    image = await solidImage(64, 64, 'png', [200, 30, 30]);
  });
  after(async () => {
    for (const c of clients) c.close();
    await gw?.stop();
  });

  it('ListLabelSets and GetLabelSet answer what GET /v1/label-sets[/:name] answers, refused files included', async () => {
    const list = await call<{ label_sets: LabelSetMsg[]; errors: { model: string; name: string; error: string }[] }>('ListLabelSets', {}, USER_KEY);
    const rest = await http('GET', '/v1/label-sets');
    assert.equal(rest.status, 200);
    const restSets = rest.body['label_sets'] as Record<string, unknown>[];
    assert.deepEqual(
      list.label_sets.map((s) => [s.model, s.name, s.source, s.labels_count, s.hash, s.templates, s.encoded_at, Number(s.matrix_bytes), s.labels]),
      restSets.map((s) => [s['model'], s['name'], s['source'], s['labels_count'], s['hash'], s['templates'], s['encoded_at'], s['matrix_bytes'], []]),
    );
    assert.deepEqual(list.label_sets.map((s) => s.name), ['basic']);
    assert.deepEqual(list.errors, rest.body['errors']);
    assert.match(list.errors.find((e) => e.name === 'broken')?.error ?? '', /broken\.txt: line 2: template "no placeholder" has no "\{\}"/);

    const one = await call<LabelSetMsg>('GetLabelSet', { model: MODEL, name: 'basic' }, USER_KEY);
    assert.deepEqual(one.labels, FILE_LABELS);
    assert.deepEqual(one.templates, ['a drawing of a {}.']);
    assert.equal(one.source, 'file');
    assert.ok(one.encoded_at['1'], JSON.stringify(one.encoded_at));
    // An empty model names the only clip model, as over HTTP.
    assert.equal((await call<LabelSetMsg>('GetLabelSet', { name: 'basic' }, USER_KEY)).hash, one.hash);
  });

  it('GetLabelSet refuses an unknown set, a bad name and a model that is not served, with catalog codes', async () => {
    await assert.rejects(call('GetLabelSet', { model: MODEL, name: 'nope' }, USER_KEY), (err: unknown) => {
      assert.deepEqual(failure(err), [grpc.status.NOT_FOUND, 'NOT_FOUND']);
      assert.match((err as grpc.ServiceError).details, /label set "nope" is not registered for model "miniclip-shapes"/);
      return true;
    });
    await assert.rejects(call('GetLabelSet', { model: MODEL, name: '../etc' }, USER_KEY), (err: unknown) => {
      assert.deepEqual(failure(err), [grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT']);
      assert.match((err as grpc.ServiceError).details, /label set name "\.\.\/etc" is invalid/);
      return true;
    });
    await assert.rejects(call('GetLabelSet', { model: 'no-such-model', name: 'basic' }, USER_KEY), (err: unknown) => failure(err)[0] === grpc.status.NOT_FOUND);
  });

  it('PutLabelSet (labels, or the file format as text) registers a set that scores as the same labels ad hoc', async () => {
    const put = await call<LabelSetMsg>('PutLabelSet', { model: MODEL, name: 'extra', labels: LABELS }, ADMIN_KEY);
    assert.deepEqual([put.name, put.source, put.labels_count, put.labels], ['extra', 'api', LABELS.length, []]);
    assert.equal(Number(put.matrix_bytes), LABELS.length * 128 * 4);
    const viaSet = await call<Scored>('ZeroShotClassify', { model: MODEL, image, label_set: 'extra', top_k: LABELS.length }, USER_KEY);
    const adHoc = await call<Scored>('ZeroShotClassify', { model: MODEL, image, labels: LABELS }, USER_KEY);
    assert.deepEqual(viaSet.labels.map((l) => l.label), adHoc.labels.map((l) => l.label));
    viaSet.labels.forEach((l, i) => assert.ok(Math.abs(l.score - adHoc.labels[i]!.score) < 1e-5, `${l.label}: ${l.score} vs ${adHoc.labels[i]!.score}`));

    const text = await call<LabelSetMsg>('PutLabelSet', { model: MODEL, name: 'from-text', text: `# a comment\n#template: a sketch of a {}.\n${LABELS.join('\n')}\n` }, ADMIN_KEY);
    assert.deepEqual([text.labels_count, text.templates], [LABELS.length, ['a sketch of a {}.']]);
    const rest = await http('GET', '/v1/label-sets/from-text');
    assert.deepEqual(rest.body['labels'], LABELS);
    assert.equal(rest.body['hash'], text.hash);
  });

  it('PutLabelSet refuses a bad line by its number, labels together with text, and an empty set; the old set keeps serving', async () => {
    const before = await call<LabelSetMsg>('GetLabelSet', { model: MODEL, name: 'extra' }, USER_KEY);
    const cases: [object, RegExp][] = [
      [{ text: 'red circle\n\nblue star\n' }, /line 2 is empty/],
      [{ text: 'red circle\n', labels: ['blue star'] }, /PutLabelSet takes labels \(and templates\) or text, not both/],
      [{ labels: ['red circle', 'Red  Circle'] }, /label 1 \("Red {2}Circle"\) duplicates label 0/],
      [{}, /labels is required/],
    ];
    for (const [fields, message] of cases) {
      await assert.rejects(call('PutLabelSet', { model: MODEL, name: 'extra', ...fields }, ADMIN_KEY), (err: unknown) => {
        assert.deepEqual(failure(err), [grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT'], JSON.stringify(fields));
        assert.match((err as grpc.ServiceError).details, message);
        return true;
      });
    }
    assert.equal((await call<LabelSetMsg>('GetLabelSet', { model: MODEL, name: 'extra' }, USER_KEY)).hash, before.hash);
  });

  it('only an admin key may put or delete over gRPC, as over HTTP; any key may read', async () => {
    for (const [method, request] of [['PutLabelSet', { model: MODEL, name: 'guarded', labels: ['red circle'] }], ['DeleteLabelSet', { model: MODEL, name: 'extra' }]] as const) {
      await assert.rejects(call(method, request, USER_KEY), (err: unknown) => {
        assert.deepEqual(failure(err), [grpc.status.PERMISSION_DENIED, 'PERMISSION_DENIED']);
        assert.match((err as grpc.ServiceError).details, /key "user" is not an admin key/);
        return true;
      });
      await assert.rejects(call(method, request), (err: unknown) => failure(err)[1] === 'UNAUTHENTICATED');
    }
    await assert.rejects(call('ListLabelSets', {}), (err: unknown) => failure(err)[1] === 'UNAUTHENTICATED');
    assert.equal((await call<LabelSetMsg>('GetLabelSet', { model: MODEL, name: 'extra' }, USER_KEY)).name, 'extra', 'the refused delete left the set');
    assert.deepEqual(await call('DeleteLabelSet', { model: MODEL, name: 'extra' }, ADMIN_KEY), { deleted: true });
    await assert.rejects(call('ZeroShotClassify', { model: MODEL, image, label_set: 'extra' }, USER_KEY), (err: unknown) => failure(err)[0] === grpc.status.NOT_FOUND);
    await assert.rejects(call('DeleteLabelSet', { model: MODEL, name: 'extra' }, ADMIN_KEY), (err: unknown) => failure(err)[1] === 'NOT_FOUND');
  });

  it('the typed client: the same label-set calls and messages over gRPC and HTTP', async () => {
    const answers: Record<string, unknown>[] = [];
    for (const transport of ['grpc', 'http'] as const) {
      const client = typed(transport);
      const name = `typed-${transport}`;
      const put = await client.putLabelSet({ model: MODEL, name, labels: LABELS, templates: ['a photo of a {}.'] });
      assert.deepEqual([put.name, put.source, put.labelsCount, put.templates, put.matrixBytes], [name, 'api', LABELS.length, ['a photo of a {}.'], BigInt(LABELS.length * 128 * 4)], transport);
      const fromText = await client.putLabelSet({ name: `${name}-text`, text: `#template: a photo of a {}.\n${LABELS.join('\n')}\n` });
      assert.equal(fromText.hash, put.hash, `${transport}: the same set as text hashes the same`);
      const got = await client.getLabelSet({ model: MODEL, name });
      assert.deepEqual(got.labels, LABELS);
      const { labelSets, errors } = await client.listLabelSets();
      assert.deepEqual(labelSets.map((s) => s.name).filter((n) => n.startsWith(name)).sort(), [name, `${name}-text`]);
      assert.deepEqual(errors.map((e) => e.name), ['broken']);
      const scored = await client.zeroShot({ model: MODEL, image, labelSet: name, topK: 3 });
      assert.equal(scored.labels.length, 3);
      assert.deepEqual(await client.deleteLabelSet({ name: `${name}-text` }).then((r) => r.deleted), true);
      await assert.rejects(client.getLabelSet({ name: `${name}-text` }), (err: unknown) => err instanceof GatewayClientError && err.code === 'NOT_FOUND' && err.grpcStatusName === 'NOT_FOUND' && err.httpStatus === 404);
      await assert.rejects(client.putLabelSet({ name, text: 'red circle\n\n' }), (err: unknown) => err instanceof GatewayClientError && err.code === 'INVALID_ARGUMENT' && /line 2 is empty/.test(err.message));
      const user = typed(transport, USER_KEY);
      await assert.rejects(user.deleteLabelSet({ name }), (err: unknown) => err instanceof GatewayClientError && err.code === 'PERMISSION_DENIED' && err.httpStatus === 403);
      answers.push({ ...got, name: '', registeredAt: '', encodedAt: {} });
      await client.deleteLabelSet({ model: MODEL, name });
    }
    // The gRPC message and the decoded REST answer are the same message, times and names aside.
    assert.deepEqual(answers[0], answers[1]);
  });

  it('the typed client refuses a call without a set name, and labels together with text, before any request', async () => {
    const client = typed('grpc');
    await assert.rejects(client.getLabelSet({ name: '' }), /a label set name is required/);
    await assert.rejects(client.putLabelSet({ name: 'x', labels: ['a'], text: 'a\n' }), /labels \(and templates\) or text, not both/);
  });
});
