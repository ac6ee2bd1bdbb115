// OpenTelemetry tracing against a real OTLP/HTTP receiver started here: a node http server that
// decodes the exporter's protobuf (or JSON) payloads with OTLP's own message definitions
// (test/fixtures/otlp). A traced HTTP and a traced gRPC request continue their callers' W3C trace
// ids, with a span per stage and a batch span linked to them; ratio sampling at 0 sends nothing.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { type Server, createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { REPO_ROOT, type TestGateway, ZOO_MODELS, makeRepository, startTestGateway } from '../helpers/gateway.js';

const MODEL = 'shapes-mobilenetv3';
const IMAGE = readFileSync(join(ZOO_MODELS, MODEL, '1', 'golden', '0.png'));
const ExportRequest = protobuf.loadSync(join(REPO_ROOT, 'test', 'fixtures', 'otlp', 'trace_service.proto')).lookupType('otlp.ExportTraceServiceRequest');

interface Attribute {
  key: string;
  value: { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean };
}
interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, string | number | boolean | undefined>;
  links: { traceId: string; spanId: string }[];
  status?: { code?: number };
  service: string;
}

/** OTLP/HTTP receiver: every span of every POST /v1/traces, protobuf or JSON, ids as hex. */
class Receiver {
  readonly spans: ReceivedSpan[] = [];
  readonly contentTypes = new Set<string>();
  private server: Server | undefined;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const type = req.headers['content-type'] ?? '';
        this.contentTypes.add(type);
        if (req.url === '/v1/traces') this.add(Buffer.concat(chunks), type);
        res.writeHead(200, { 'content-type': type }).end(type.includes('json') ? '{}' : undefined);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  private add(body: Buffer, type: string): void {
    const hex = (v: unknown): string => (typeof v === 'string' ? (/^[0-9a-f]*$/.test(v) ? v : Buffer.from(v, 'base64').toString('hex')) : Buffer.from((v as Uint8Array | undefined) ?? []).toString('hex'));
    const message = type.includes('json')
      ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>)
      : (ExportRequest.toObject(ExportRequest.decode(body), { longs: String, bytes: String, defaults: true }) as Record<string, unknown>);
    const attrs = (list: Attribute[] | undefined): ReceivedSpan['attributes'] =>
      Object.fromEntries((list ?? []).map((a) => [a.key, a.value.stringValue ?? (a.value.intValue !== undefined ? Number(a.value.intValue) : (a.value.doubleValue ?? a.value.boolValue))]));
    type Wire = { traceId: unknown; spanId: unknown; parentSpanId?: unknown; name: string; kind: number; attributes?: Attribute[]; links?: { traceId: unknown; spanId: unknown }[]; status?: { code?: number } };
    for (const rs of (message['resourceSpans'] ?? []) as { resource?: { attributes?: Attribute[] }; scopeSpans?: { spans?: Wire[] }[] }[]) {
      const service = String(attrs(rs.resource?.attributes)['service.name']);
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          this.spans.push({
            traceId: hex(s.traceId),
            spanId: hex(s.spanId),
            parentSpanId: hex(s.parentSpanId ?? ''),
            name: s.name,
            kind: s.kind,
            attributes: attrs(s.attributes),
            links: (s.links ?? []).map((l) => ({ traceId: hex(l.traceId), spanId: hex(l.spanId) })),
            status: s.status,
            service,
          });
        }
      }
    }
  }
}

const STAGES = ['receive', 'admission', 'preprocess', 'queue wait', 'inference', 'answer'];

/** Runs a gateway with tracing to a fresh receiver, `calls` against it, then stops it (which flushes the spans). */
async function traced(env: Record<string, string>, calls: (gw: TestGateway) => Promise<void>): Promise<Receiver> {
  const receiver = new Receiver();
  const endpoint = await receiver.start();
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    const gw = await startTestGateway(await makeRepository([{ from: join(ZOO_MODELS, MODEL) }]), { otlpEndpoint: endpoint });
    try {
      await calls(gw);
    } finally {
      await gw.stop();
    }
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await receiver.stop();
  }
  return receiver;
}

const newIds = (): { traceId: string; parentId: string; traceparent: string } => {
  const traceId = randomBytes(16).toString('hex');
  const parentId = randomBytes(8).toString('hex');
  return { traceId, parentId, traceparent: `00-${traceId}-${parentId}-01` };
};

describe('OpenTelemetry tracing', () => {
  const viaHttp = newIds();
  const viaGrpc = newIds();
  let receiver: Receiver;
  before(async () => {
    receiver = await traced({ OTEL_SERVICE_NAME: 'gateway-under-test' }, async (gw) => {
      const res = await fetch(`${gw.http}/v1/classify?model=${MODEL}`, { method: 'POST', headers: { 'content-type': 'image/png', traceparent: viaHttp.traceparent }, body: new Uint8Array(IMAGE) });
      assert.equal(res.status, 200);
      const metadata = new grpc.Metadata();
      metadata.set('traceparent', viaGrpc.traceparent);
      await gw.client.classify({ model: MODEL, image: IMAGE }, { metadata });
    });
  });

  it('exports OTLP/HTTP protobuf under OTEL_SERVICE_NAME', () => {
    assert.deepEqual([...receiver.contentTypes], ['application/x-protobuf']);
    assert.ok(receiver.spans.length > 0);
    assert.ok(receiver.spans.every((s) => s.service === 'gateway-under-test'));
  });

  for (const [transport, ids, operation] of [
    ['HTTP headers', viaHttp, 'POST /v1/classify'],
    ['gRPC metadata', viaGrpc, 'gateway.v1.InferenceGateway/Classify'],
  ] as const) {
    it(`continues the caller's traceparent from ${transport}: a server span with a span per stage`, () => {
      const spans = receiver.spans.filter((s) => s.traceId === ids.traceId);
      const server = spans.find((s) => s.name === operation);
      assert.ok(server, `no "${operation}" span in the caller's trace; got ${spans.map((s) => s.name).join(', ')}`);
      assert.equal(server.parentSpanId, ids.parentId);
      assert.equal(server.kind, 2, 'SERVER');
      assert.deepEqual({ model: server.attributes['gateway.model'], version: server.attributes['gateway.model_version'], outcome: server.attributes['gateway.outcome'] }, { model: MODEL, version: '1', outcome: 'ok' });
      assert.ok(Number(server.attributes['gateway.batch_size']) >= 1);
      const children = spans.filter((s) => s.parentSpanId === server.spanId).map((s) => s.name);
      assert.deepEqual([...children].sort(), [...STAGES].sort());
      // The batch runs in its own trace, linked to this request.
      const batch = receiver.spans.find((s) => s.name === 'batch' && s.links.some((l) => l.traceId === ids.traceId && l.spanId === server.spanId));
      assert.ok(batch, 'no batch span linked to the request');
      assert.notEqual(batch.traceId, ids.traceId);
      assert.equal(batch.attributes['gateway.model'], MODEL);
      assert.equal(batch.attributes['gateway.batch_size'], batch.links.length);
      assert.ok(receiver.spans.some((s) => s.name === 'inference' && s.parentSpanId === batch.spanId));
    });
  }

  it('a failed request: its span has the error code as outcome and an error status; JSON export on request', async () => {
    const ids = newIds();
    const json = await traced({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }, async (gw) => {
      const res = await fetch(`${gw.http}/v1/classify?model=${MODEL}`, { method: 'POST', headers: { 'content-type': 'image/png', traceparent: ids.traceparent }, body: 'not an image' });
      assert.equal(res.status, 400);
    });
    assert.deepEqual([...json.contentTypes], ['application/json']);
    const server = json.spans.find((s) => s.traceId === ids.traceId && s.name === 'POST /v1/classify');
    assert.ok(server);
    assert.equal(server.attributes['gateway.outcome'], 'INVALID_IMAGE');
    assert.equal(server.status?.code, 2, 'STATUS_CODE_ERROR');
  });

  it('OTEL_TRACES_SAMPLER=traceidratio with ratio 0 exports nothing', async () => {
    const none = await traced({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' }, async (gw) => {
      const res = await fetch(`${gw.http}/v1/classify?model=${MODEL}`, { method: 'POST', headers: { 'content-type': 'image/png', traceparent: newIds().traceparent }, body: new Uint8Array(IMAGE) });
      assert.equal(res.status, 200);
    });
    assert.deepEqual(none.spans, []);
  });
});
