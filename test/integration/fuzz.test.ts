// Fuzzing both transports with a few thousand seeded random mutations of valid images and
// requests (bounded in count and time): every request gets exactly one answer, never an
// internal error, and the gateway keeps serving valid requests afterwards.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { solidImage } from '../helpers/images.js';
import seedrandom from 'seedrandom';
import { FIXTURE_MODELS, type TestGateway, grpcCode, makeRepository, startTestGateway } from '../helpers/gateway.js';

const MUTATIONS = 2000;
const TIME_BUDGET_MS = 90_000;
const CONCURRENCY = 16;


function mutate(base: Buffer, rand: () => number): Buffer {
  const out = Buffer.from(base);
  const int = (n: number): number => Math.floor(rand() * n);
  switch (int(6)) {
    case 0: // flip a few bits
      for (let i = 0, n = 1 + int(8); i < n; i++) out[int(out.length)]! ^= 1 << int(8);
      return out;
    case 1: // truncate
      return out.subarray(0, int(out.length));
    case 2: // insert random bytes
      return Buffer.concat([out.subarray(0, int(out.length)), Buffer.from(Array.from({ length: 1 + int(64) }, () => int(256))), out.subarray(int(out.length))]);
    case 3: // overwrite the header
      for (let i = 0; i < Math.min(32, out.length); i++) if (rand() < 0.3) out[i] = int(256);
      return out;
    case 4: // duplicate a chunk
      {
        const start = int(out.length);
        return Buffer.concat([out, out.subarray(start, start + int(512))]);
      }
    default: // overwrite a run with one byte
      out.fill(int(256), int(out.length), int(out.length));
      return out;
  }
}

const ALLOWED_HTTP = new Set([200, 400, 404, 413, 415]);
const ALLOWED_GRPC = new Set<grpc.status | 'ok'>(['ok', grpc.status.INVALID_ARGUMENT, grpc.status.NOT_FOUND, grpc.status.RESOURCE_EXHAUSTED]);

describe('fuzz', () => {
  let gw: TestGateway;
  let bases: Buffer[];
  before(async () => {
    gw = await startTestGateway(await makeRepository([{ from: join(FIXTURE_MODELS, 'tiny-dynamic'), as: 'tiny', patch: { batching: { maxBatchSize: 16, maxQueueDelayMs: 2, maxQueueSize: 512 } } }]), { maxImagePixels: 4_000_000 });
    bases = [await solidImage(40, 30, 'png'), await solidImage(33, 47, 'jpeg', [10, 200, 30]), await solidImage(64, 64, 'webp', [90, 90, 250])];
  });
  after(() => gw.stop());

  it(`answers ${MUTATIONS} mutated requests over gRPC and HTTP, each once, never with an internal error`, async () => {
    const rand = seedrandom('20261127');
    const started = Date.now();
    const outcomes = new Map<string, number>();
    const unexpected: string[] = [];
    let issued = 0;
    let answered = 0;
    const record = (key: string, ok: boolean, detail: string): void => {
      answered++;
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      if (!ok && unexpected.length < 10) unexpected.push(detail);
    };
    const one = async (): Promise<void> => {
      const i = issued++;
      const image = mutate(bases[i % bases.length]!, rand);
      const model = rand() < 0.9 ? 'tiny' : ['', 'tiny ', '../tiny', 'Tiny', 'ti\u0000ny', 'x'.repeat(300), '\u{1F600}'][Math.floor(rand() * 7)]!;
      const topK = rand() < 0.8 ? 0 : Math.floor(rand() * 3000) - 500;
      if (i % 2 === 0) {
        const reply = await gw.client.classify({ model, image, top_k: Math.max(0, topK) }).then(
          () => 'ok' as const,
          (err: unknown) => grpcCode(err),
        );
        record(`grpc:${reply}`, ALLOWED_GRPC.has(reply), `grpc ${reply} model=${JSON.stringify(model)}`);
      } else {
        const query = new URLSearchParams({ model, ...(topK !== 0 ? { top_k: String(topK) } : {}) });
        const res = await fetch(`${gw.http}/v1/classify?${query}`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: image as BodyInit });
        const text = await res.text();
        record(`http:${res.status}`, ALLOWED_HTTP.has(res.status), `http ${res.status} ${text.slice(0, 200)}`);
      }
    };
    const workers = Array.from({ length: CONCURRENCY }, async () => {
      while (issued < MUTATIONS && Date.now() - started < TIME_BUDGET_MS) await one();
    });
    await Promise.all(workers);
    assert.equal(answered, issued, 'a request got no answer');
    console.log(`# fuzz: ${issued} sent, ${answered} answered: ${JSON.stringify(Object.fromEntries(outcomes))}`);
    assert.ok(issued >= 500, `only ${issued} requests within the time budget`);
    assert.deepEqual(unexpected, [], JSON.stringify(Object.fromEntries(outcomes)));
    assert.ok((outcomes.get('grpc:ok') ?? 0) > 0 && (outcomes.get('http:400') ?? 0) > 0, JSON.stringify(Object.fromEntries(outcomes)));
  });

  it('still serves valid requests afterwards', async () => {
    const replies = await Promise.all(bases.map((image) => gw.client.classify({ model: 'tiny', image })));
    assert.ok(replies.every((r) => r.labels.length === 4));
  });
});
