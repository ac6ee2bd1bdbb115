// Hot reload without loss: under continuous load, a new version folder loads beside the old one,
// takes new requests once warm, and the old one drains and unloads: zero requests fail. A new
// model appears, a removed model drains first, a corrupt new version or a broken manifest is
// reported while the rest serves. Triggered by the admin endpoint and by the file watcher.
import assert from 'node:assert/strict';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { solidImage } from '../helpers/images.js';
import { FIXTURE_MODELS, type TestGateway, makeRepository, postImage, startTestGateway } from '../helpers/gateway.js';
import { waitUntil } from '../helpers/wait.js';

interface ModelView {
  name: string;
  state: string;
  reason: string;
  defaultVersion: string;
  versions: { version: string; state: string; reason: string }[];
}

describe('hot reload', () => {
  let gw: TestGateway;
  let image: Buffer;
  const models = async (): Promise<Record<string, ModelView>> => {
    const body = (await (await fetch(`${gw.http}/v1/models`)).json()) as { models: ModelView[] };
    return Object.fromEntries(body.models.map((m) => [m.name, m]));
  };
  const reload = async (): Promise<void> => {
    const res = await fetch(`${gw.http}/v1/admin/reload`, { method: 'POST' });
    assert.equal(res.status, 200);
  };

  before(async () => {
    const root = await makeRepository([
      { from: join(FIXTURE_MODELS, 'tiny-dynamic'), as: 'tiny', patch: { versionPolicy: { latest: 1 } } },
      { from: join(FIXTURE_MODELS, 'slow-dynamic'), as: 'slow', patch: { batching: { maxBatchSize: 1, maxQueueSize: 64 } } },
    ]);
    gw = await startTestGateway(root, { adminApi: true });
    image = await solidImage(32, 32);
  });
  after(() => gw.stop());

  it('is off unless enabled', async () => {
    const other = await startTestGateway(await makeRepository([{ from: join(FIXTURE_MODELS, 'tiny-dynamic') }]));
    try {
      assert.equal((await fetch(`${other.http}/v1/admin/reload`, { method: 'POST' })).status, 404);
    } finally {
      await other.stop();
    }
  });

  it('swaps in a new version under continuous load with zero failed requests', async () => {
    let running = true;
    const outcomes: string[] = [];
    const worker = async (i: number): Promise<void> => {
      while (running) {
        if (i % 2 === 0) {
          const r = await gw.client.classify({ model: 'tiny', image }).then((x) => `ok:${x.version}`, (e: Error) => `fail:${e.message}`);
          outcomes.push(r);
        } else {
          const r = await postImage(gw.http, 'model=tiny', image);
          outcomes.push(r.status === 200 ? `ok:${String(r.json['version'])}` : `fail:${r.status}:${JSON.stringify(r.json)}`);
        }
      }
    };
    const workers = Array.from({ length: 6 }, (_, i) => worker(i));
    await new Promise((r) => setTimeout(r, 200));
    await cp(join(gw.modelsDir, 'tiny', '1'), join(gw.modelsDir, 'tiny', '2'), { recursive: true });
    await reload();
    await new Promise((r) => setTimeout(r, 200));
    running = false;
    await Promise.all(workers);

    const failures = outcomes.filter((o) => o.startsWith('fail'));
    console.log(`# reload under load: ${outcomes.length} requests, ${failures.length} failed`);
    assert.deepEqual(failures, [], `${failures.length} of ${outcomes.length} requests failed`);
    assert.ok(outcomes.includes('ok:1') && outcomes.includes('ok:2'), 'load did not span the switch');
    const tiny = (await models())['tiny']!;
    assert.equal(tiny.defaultVersion, '2');
    assert.deepEqual(tiny.versions.map((v) => v.version), ['2'], 'version 1 was not unloaded (versionPolicy latest 1)');
  });

  it('reports a corrupt new version and keeps serving the loaded one', async () => {
    await cp(join(gw.modelsDir, 'tiny', '2'), join(gw.modelsDir, 'tiny', '3'), { recursive: true });
    await writeFile(join(gw.modelsDir, 'tiny', '3', 'model.onnx'), 'garbage');
    await reload();
    const tiny = (await models())['tiny']!;
    assert.equal(tiny.state, 'READY');
    assert.equal(tiny.defaultVersion, '2');
    const v3 = tiny.versions.find((v) => v.version === '3')!;
    assert.equal(v3.state, 'UNAVAILABLE');
    assert.match(v3.reason, /cannot open/);
    assert.equal((await postImage(gw.http, 'model=tiny', image)).status, 200);
    await rm(join(gw.modelsDir, 'tiny', '3'), { recursive: true });
    await reload();
    assert.deepEqual((await models())['tiny']!.versions.map((v) => v.version), ['2']);
  });

  it('loads a model added to the repository', async () => {
    await cp(join(FIXTURE_MODELS, 'mnist-8'), join(gw.modelsDir, 'mnist-8'), { recursive: true });
    await reload();
    assert.equal((await models())['mnist-8']?.state, 'READY');
    assert.equal((await postImage(gw.http, 'model=mnist-8', image)).status, 200);
  });

  it('drains a removed model before unloading it', async () => {
    const big = await solidImage(128, 128);
    const inFlight = Array.from({ length: 6 }, () => postImage(gw.http, 'model=slow', big));
    await waitUntil(() => gw.gateway.repository.pending >= 3, 'requests to be in flight');
    await rm(join(gw.modelsDir, 'slow'), { recursive: true });
    await reload();
    const answers = await Promise.all(inFlight);
    assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200, 200, 200]);
    assert.equal((await models())['slow'], undefined);
    assert.equal((await postImage(gw.http, 'model=slow', big)).status, 404);
  });

  it('marks a model whose manifest broke UNAVAILABLE with the reason; the rest serves', async () => {
    const path = join(gw.modelsDir, 'mnist-8', 'model.json');
    const good = await readFile(path, 'utf8');
    await writeFile(path, good.replace('"GRAY"', '"CMYK"'));
    await reload();
    const mnist = (await models())['mnist-8']!;
    assert.equal(mnist.state, 'UNAVAILABLE');
    assert.match(mnist.reason, /channelOrder/);
    assert.equal((await postImage(gw.http, 'model=mnist-8', image)).status, 503);
    assert.equal((await postImage(gw.http, 'model=tiny', image)).status, 200);
    await writeFile(path, good);
    await reload();
    assert.equal((await models())['mnist-8']!.state, 'READY');
  });

  it('reloads on its own when watching the repository', async () => {
    const watched = await startTestGateway(await makeRepository([{ from: join(FIXTURE_MODELS, 'tiny-dynamic'), as: 'watched' }]), { watchModels: true });
    try {
      await cp(join(watched.modelsDir, 'watched', '1'), join(watched.modelsDir, 'watched', '2'), { recursive: true });
      const end = Date.now() + 15_000;
      let versions: string[] = [];
      while (Date.now() < end) {
        const body = (await (await fetch(`${watched.http}/v1/models/watched`)).json()) as ModelView;
        versions = body.versions.filter((v) => v.state === 'READY').map((v) => v.version);
        if (versions.includes('2')) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.deepEqual(versions, ['1', '2']);
    } finally {
      await watched.stop();
    }
  });
});
