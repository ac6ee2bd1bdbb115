// The typed client (src/client/, `inference-gateway/client`) against a real gateway on both
// transports: the same answers, errors typed with the catalog codes, retries that honour the
// gateway's retry-after (a rate-limited API key), deadlines that cover the retries, and TLS with a
// private CA and a client certificate made by openssl at test time.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { GatewayClient, GatewayClientError } from '../../src/client/index.js';
import { hashApiKey } from '../../src/server/auth.js';
import { type TestGateway, ZOO_MODELS, makeRepository, startTestGateway } from '../helpers/gateway.js';

const MODEL = 'shapes-mobilenetv3';
const IMAGE = readFileSync(join(ZOO_MODELS, MODEL, '1', 'golden', '0.png'));
const KEY = 'client-test-key-0123456789abcdef';
const SLOW_KEY = 'client-test-slow-key-0123456789';

describe('typed client', () => {
  let gw: TestGateway;
  const clients: GatewayClient[] = [];
  const make = (transport: 'grpc' | 'http', options: ConstructorParameters<typeof GatewayClient>[0] = {}): GatewayClient => {
    const client = new GatewayClient({ transport, address: transport === 'grpc' ? `127.0.0.1:${gw.gateway.grpcPort}` : gw.http, apiKey: KEY, ...options });
    clients.push(client);
    return client;
  };
  before(async () => {
    gw = await startTestGateway(await makeRepository([{ from: join(ZOO_MODELS, MODEL) }]), {
      apiKeys: [
        { name: 'fast', sha256: hashApiKey(KEY), models: ['*'], requestsPerSecond: 0, burst: 100 },
        // One request per second: the second of two calls in a row is RATE_LIMITED with retry-after 1.
        { name: 'slow', sha256: hashApiKey(SLOW_KEY), models: ['*'], requestsPerSecond: 1, burst: 1 },
      ],
    });
  });
  after(async () => {
    for (const c of clients) c.close();
    await gw.stop();
  });

  it('classify and listModels: the same messages over gRPC and HTTP', async () => {
    const [g, h] = [make('grpc'), make('http')];
    const [a, b] = await Promise.all([g.classify({ model: MODEL, image: IMAGE, topK: 3 }), h.classify({ model: MODEL, image: IMAGE, topK: 3 })]);
    assert.deepEqual(a.labels.map((l) => [l.label, l.index]), b.labels.map((l) => [l.label, l.index]));
    assert.ok(Math.abs(a.labels[0]!.score - b.labels[0]!.score) < 1e-6);
    assert.equal(a.labels.length, 3);
    assert.ok(a.timing!.totalMs > 0 && b.timing!.totalMs > 0 && b.batchSize >= 1 && b.requestId !== '');
    const [ga, hb] = await Promise.all([g.listModels(), h.listModels()]);
    const summary = (m: (typeof ga.models)[number]): unknown[] => [m.name, m.kind, m.state, m.defaultVersion, m.versions[0]!.batching!.maxBatchSize, m.versions[0]!.batching!.saturatedQueueDelayMs];
    assert.deepEqual(hb.models.map(summary), ga.models.map(summary));
    assert.ok(ga.models.every((m) => m.versions[0]!.batching!.saturatedQueueDelayMs === 20), 'the manifest default, on both transports');
  });

  it('errors carry the catalog code and both statuses, whatever the transport', async () => {
    for (const transport of ['grpc', 'http'] as const) {
      const client = make(transport);
      await assert.rejects(client.classify({ model: 'resnet-9000', image: IMAGE }), (err: unknown) => {
        assert.ok(err instanceof GatewayClientError);
        assert.deepEqual([err.code, err.grpcStatusName, err.httpStatus], ['MODEL_NOT_FOUND', 'NOT_FOUND', 404]);
        assert.match(err.message, /model "resnet-9000" not found/);
        return true;
      });
      await assert.rejects(client.classify({ model: MODEL, image: Buffer.from('not an image') }), { code: 'INVALID_IMAGE', httpStatus: 400 });
      await assert.rejects(make(transport, { apiKey: 'wrong-key-0123456789abcdef' }).listModels(), { code: 'UNAUTHENTICATED', httpStatus: 401 });
    }
  });

  it("RATE_LIMITED is retried after the gateway's retry-after, and surfaces typed when retries are off or the deadline is too near", async () => {
    for (const transport of ['grpc', 'http'] as const) {
      const noRetry = make(transport, { apiKey: SLOW_KEY, retry: { maxAttempts: 1 } });
      await noRetry.classify({ model: MODEL, image: IMAGE }).catch(() => undefined);
      await assert.rejects(noRetry.classify({ model: MODEL, image: IMAGE }), (err: unknown) => {
        assert.ok(err instanceof GatewayClientError);
        assert.equal(err.code, 'RATE_LIMITED');
        assert.equal(err.retryAfterSeconds, 1);
        return true;
      });
      // The retry-after (1 s) does not fit in a 300 ms deadline: the real failure comes back at once.
      const tight = make(transport, { apiKey: SLOW_KEY, timeoutMs: 300 });
      await assert.rejects(tight.classify({ model: MODEL, image: IMAGE }), { code: 'RATE_LIMITED' });
      const retrying = make(transport, { apiKey: SLOW_KEY, timeoutMs: 10_000, retry: { initialBackoffMs: 1 } });
      const startedMs = performance.now();
      const answer = await retrying.classify({ model: MODEL, image: IMAGE });
      assert.equal(answer.model, MODEL);
      // Waited for retry-after, not the 1 ms backoff (the bucket refills one token per second).
      assert.ok(performance.now() - startedMs >= 500, `answered after ${Math.round(performance.now() - startedMs)} ms`);
    }
  });

  it('label-set changes without the admin API: gRPC UNIMPLEMENTED naming the setting, NOT_FOUND from the client on both transports; listing still answers', async () => {
    const unimplemented = await new Promise<grpc.ServiceError>((resolve, reject) => {
      const metadata = new grpc.Metadata();
      metadata.set('authorization', `Bearer ${KEY}`);
      gw.client.raw['PutLabelSet']!({ name: 'x', labels: ['a'] }, metadata, {}, (err: grpc.ServiceError | null) => (err ? resolve(err) : reject(new Error('PutLabelSet answered without the admin API'))));
    });
    assert.equal(unimplemented.code, grpc.status.UNIMPLEMENTED);
    assert.match(unimplemented.details, /PutLabelSet is served only with the admin API on \(--admin-api/);
    for (const transport of ['grpc', 'http'] as const) {
      const client = make(transport);
      await assert.rejects(client.putLabelSet({ name: 'x', labels: ['a'] }), { code: 'NOT_FOUND' });
      await assert.rejects(client.deleteLabelSet({ name: 'x' }), { code: 'NOT_FOUND' });
      const { labelSets, errors } = await client.listLabelSets();
      assert.deepEqual([labelSets, errors], [[], []], transport);
    }
  });

  it('an unreachable gateway is UNREACHABLE after the retries, within the deadline', async () => {
    for (const [transport, address] of [['grpc', '127.0.0.1:1'], ['http', 'http://127.0.0.1:1']] as const) {
      const client = new GatewayClient({ transport, address, timeoutMs: 5000, retry: { maxAttempts: 2, initialBackoffMs: 10 } });
      clients.push(client);
      await assert.rejects(client.listModels(), { code: 'UNREACHABLE' });
    }
  });
});

describe('typed client over TLS', () => {
  let gw: TestGateway;
  let dir: string;
  const pem = (name: string): Buffer => readFileSync(join(dir, name));
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'client-pki-'));
    const openssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=client test CA', '-keyout', 'ca.key', '-out', 'ca.pem');
    for (const who of ['server', 'client']) {
      openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${who === 'server' ? 'localhost' : 'test-client'}`, '-keyout', `${who}.key`, '-out', `${who}.csr`);
      writeFileSync(join(dir, `${who}.ext`), who === 'server' ? 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' : 'extendedKeyUsage=clientAuth\n');
      openssl('x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', `${who}.ext`, '-out', `${who}.pem`);
    }
    gw = await startTestGateway(await makeRepository([{ from: join(ZOO_MODELS, MODEL) }]), { tlsCert: join(dir, 'server.pem'), tlsKey: join(dir, 'server.key'), tlsClientCa: join(dir, 'ca.pem') });
  });
  after(async () => {
    await gw.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('mTLS on both transports with the CA and a client certificate; without the certificate the call fails', async () => {
    for (const [transport, address] of [['grpc', `localhost:${gw.gateway.grpcPort}`], ['http', `https://localhost:${gw.gateway.httpPort}`]] as const) {
      const client = new GatewayClient({ transport, address, tls: { ca: pem('ca.pem'), cert: pem('client.pem'), key: pem('client.key') }, timeoutMs: 10_000 });
      try {
        assert.equal((await client.classify({ model: MODEL, image: IMAGE })).model, MODEL);
      } finally {
        client.close();
      }
      const anonymous = new GatewayClient({ transport, address, tls: { ca: pem('ca.pem') }, timeoutMs: 5000, retry: { maxAttempts: 1 } });
      try {
        await assert.rejects(anonymous.listModels(), GatewayClientError);
      } finally {
        anonymous.close();
      }
    }
  });
});
