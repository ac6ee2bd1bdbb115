// No server paths in answers: reasons of unavailable models, provider notes and error messages
// name files relative to the models directory (or to node_modules), over gRPC, HTTP and KServe
// metadata, while the log keeps the full paths for the operator.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type * as grpc from '@grpc/grpc-js';
import { createLogger } from '../../src/logger.js';
import { solidImage } from '../helpers/images.js';
import { FIXTURE_MODELS, REPO_ROOT, type TestGateway, makeRepository, postImage, startTestGateway } from '../helpers/gateway.js';

describe('no server paths in answers', () => {
  let gw: TestGateway;
  let root: string;
  const logs: string[] = [];

  /** Fails naming the first server path found in `text`. */
  const assertNoServerPath = (text: string, where: string): void => {
    for (const path of [root, REPO_ROOT.replace(/\/$/, ''), '/node_modules/', tmpdir()]) assert.ok(!text.includes(path), `${where} contains "${path}": ${text}`);
  };

  before(async () => {
    root = await makeRepository([
      { from: join(FIXTURE_MODELS, 'tiny-dynamic') },
      { from: join(FIXTURE_MODELS, 'tiny-dynamic'), as: 'corrupt' },
      { from: join(FIXTURE_MODELS, 'tiny-dynamic'), as: 'no-labels', patch: { labels: 'missing.txt' } },
    ]);
    await writeFile(join(root, 'corrupt', '1', 'model.onnx'), 'not an onnx graph');
    await mkdir(join(root, 'no-versions'));
    await writeFile(join(root, 'no-versions', 'model.json'), JSON.stringify({ name: 'no-versions', kind: 'image-classifier', inputs: [{ name: 'input' }], outputs: [{ name: 'logits' }], preprocessing: { size: [32, 32] } }));
    const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (logs.push(chunk.toString()), done()) });
    // `auto` on a host without the CUDA provider library notes the fallback, naming that library.
    gw = await startTestGateway(root, { executionProvider: 'auto', logLevel: 'info' }, { logger: createLogger('info', sink) });
  });
  after(() => gw.stop());

  it('ListModels and /v1/models give reasons relative to the models directory', async () => {
    const grpcList = JSON.stringify(await gw.client.listModels());
    const httpList = await (await fetch(`${gw.http}/v1/models`)).text();
    for (const [where, text] of [['ListModels', grpcList], ['/v1/models', httpList]] as const) {
      assertNoServerPath(text, where);
      assert.match(text, /cannot open corrupt\/1\/model\.onnx/, where);
      assert.match(text, /labels file \\"missing\.txt\\" not found in no-labels\/1 or no-labels/, where);
      assert.match(text, /no version folders \(1, 2, \.\.\.\) in no-versions/, where);
    }
  });

  it('provider notes name the onnxruntime-node file, not where node_modules is', async () => {
    const { models } = await gw.client.listModels();
    const version = (models.find((m) => m['name'] === 'tiny-dynamic') as { versions: { execution_provider: string; provider_note: string }[] }).versions[0]!;
    if (version.execution_provider === 'cpu') assert.match(version.provider_note, /CUDA unavailable \(onnxruntime-node\/bin\/.*libonnxruntime_providers_cuda\.so not installed/);
    assertNoServerPath(version.provider_note, 'provider_note');
  });

  it('errors of unavailable models carry no server path over gRPC, HTTP and KServe metadata', async () => {
    const image = await solidImage(32, 32);
    const http = await postImage(gw.http, 'model=corrupt', image);
    assert.equal(http.status, 503);
    assertNoServerPath(JSON.stringify(http.json), 'HTTP classify');
    assert.match(JSON.stringify(http.json), /corrupt\/1\/model\.onnx/);
    await assert.rejects(gw.client.classify({ model: 'no-labels', image }), (err: grpc.ServiceError) => {
      assertNoServerPath(err.details, 'gRPC Classify');
      assert.match(err.details, /not found in no-labels\/1 or no-labels/);
      return true;
    });
    const metadata = await (await fetch(`${gw.http}/v2/models/no-versions`)).text();
    assertNoServerPath(metadata, 'KServe metadata');
    assert.match(metadata, /no version folders/);
  });

  it('the log keeps the full paths', () => {
    const text = logs.join('');
    assert.ok(text.includes(join(root, 'corrupt', '1', 'model.onnx')), 'full path of the corrupt graph logged');
    assert.ok(text.includes(join(root, 'no-versions')), 'full path of the model folder logged');
  });
});
