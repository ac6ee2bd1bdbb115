// gRPC edges on the real gateway: request bytes that are not a protobuf message answer
// INVALID_ARGUMENT with the catalog's x-error-code (not INTERNAL) on every service, unary and
// streaming; grpc.health.v1.Health is listed by reflection; the HTTP/2 receive windows a client is
// offered are the configured ones (not HTTP/2's 64 KiB), and a request of many windows' worth is
// answered; and a gateway bound to the IPv6 loopback (::1) serves gRPC and HTTP.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import sharp from 'sharp';
import { solidImage } from '../helpers/images.js';
import { waitUntil } from '../helpers/wait.js';
import { FIXTURE_MODELS, GatewayClient, type TestGateway, makeRepository, reflectionServices, startTestGateway } from '../helpers/gateway.js';

/** Field 15 with wire type 7, which protobuf does not define: no decoder accepts these bytes. */
const GARBAGE = Buffer.from([0x7f, 0x01]);
const identity = (b: Buffer): Buffer => b;

/** Whether this machine can listen on the IPv6 loopback. */
function ipv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(0, '::1', () => server.close(() => resolve(true)));
  });
}
const noIpv6 = !(await ipv6Loopback());

function assertInvalidArgument(err: grpc.ServiceError | null, path: string): void {
  assert.ok(err, `${path} should fail`);
  assert.equal(err.code, grpc.status.INVALID_ARGUMENT, `${path}: ${err.code} ${err.details}`);
  assert.deepEqual(err.metadata.get('x-error-code'), ['INVALID_ARGUMENT'], path);
  assert.match(err.details, new RegExp(`request message of ${path.replace(/[.]/g, '\\.')} could not be decoded as protobuf \\(2 bytes\\): invalid wire type 7`));
}

describe('gRPC edges', () => {
  let gw: TestGateway;
  let raw: grpc.Client;
  before(async () => {
    gw = await startTestGateway(await makeRepository([{ from: join(FIXTURE_MODELS, 'tiny-dynamic') }]));
    raw = new grpc.Client(`127.0.0.1:${gw.gateway.grpcPort}`, grpc.credentials.createInsecure());
  });
  after(async () => {
    raw.close();
    await gw.stop();
  });

  for (const path of ['/gateway.v1.InferenceGateway/Classify', '/gateway.v1.InferenceGateway/ListModels', '/inference.GRPCInferenceService/ModelInfer', '/grpc.health.v1.Health/Check']) {
    it(`${path}: an undecodable message is INVALID_ARGUMENT with x-error-code`, async () => {
      const err = await new Promise<grpc.ServiceError | null>((resolve) => raw.makeUnaryRequest(path, identity, identity, GARBAGE, (e) => resolve(e)));
      assertInvalidArgument(err, path);
    });
  }

  it('ClassifyStream: an undecodable message ends the stream with INVALID_ARGUMENT and x-error-code', async () => {
    const path = '/gateway.v1.InferenceGateway/ClassifyStream';
    const call = raw.makeBidiStreamRequest(path, identity, identity);
    const err = await new Promise<grpc.ServiceError>((resolve, reject) => {
      call.on('error', resolve);
      call.on('end', () => reject(new Error('stream ended without an error')));
      call.on('data', () => undefined);
      call.write(GARBAGE);
    });
    assertInvalidArgument(err, path);
  });

  it('keeps serving well-formed calls afterwards', async () => {
    const reply = await gw.client.classify({ model: 'tiny-dynamic', image: await solidImage(32, 32) });
    assert.equal(reply.labels.length, 4);
  });

  it('lists grpc.health.v1.Health by reflection', async () => {
    const services = await reflectionServices(`127.0.0.1:${gw.gateway.grpcPort}`);
    for (const name of ['grpc.health.v1.Health', 'gateway.v1.InferenceGateway', 'inference.GRPCInferenceService']) assert.ok(services.includes(name), services.join(', '));
  });
});

/** The receive windows the gateway's gRPC port offers a new HTTP/2 connection: per stream, and the connection's. */
async function offeredWindows(port: number): Promise<{ stream: number; connection: number }> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const settings = await new Promise<http2.Settings>((resolve, reject) => {
      session.once('remoteSettings', resolve);
      session.once('error', reject);
    });
    // The connection window is raised by a WINDOW_UPDATE right after the SETTINGS.
    await waitUntil(() => (session.state.remoteWindowSize ?? 0) > 65_535, 'the connection WINDOW_UPDATE');
    return { stream: settings.initialWindowSize ?? NaN, connection: session.state.remoteWindowSize ?? NaN };
  } finally {
    session.close();
  }
}

describe('gRPC HTTP/2 receive windows', () => {
  let gw: TestGateway | undefined;
  after(async () => gw?.stop());

  it('offers 4 MiB per stream and 16 MiB per connection by default, and --grpc-flow-control-window sets them', async () => {
    gw = await startTestGateway(await makeRepository([{ from: join(FIXTURE_MODELS, 'tiny-dynamic') }]));
    assert.deepEqual(await offeredWindows(gw.gateway.grpcPort), { stream: 4 * 1024 * 1024, connection: 16 * 1024 * 1024 });
    await gw.stop();
    gw = await startTestGateway(await makeRepository([{ from: join(FIXTURE_MODELS, 'tiny-dynamic') }]), { grpcFlowControlWindow: 1024 * 1024 });
    assert.deepEqual(await offeredWindows(gw.gateway.grpcPort), { stream: 1024 * 1024, connection: 4 * 1024 * 1024 });
  });

  it('answers concurrent requests of many 64 KiB windows each', async () => {
    assert.ok(gw);
    // Noise does not compress: a 512x512 PNG is about 0.77 MB, over ten HTTP/2 default windows.
    const image = await sharp({ create: { width: 512, height: 512, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 60 } } })
      .png()
      .toBuffer();
    assert.ok(image.length > 10 * 65_535, `image of ${image.length} bytes`);
    const replies = await Promise.all(Array.from({ length: 8 }, () => gw!.client.classify({ model: 'tiny-dynamic', image })));
    for (const reply of replies) assert.equal(reply.labels.length, 4);
  });
});

describe('a gateway bound to the IPv6 loopback', () => {
  it('serves gRPC and HTTP on [::1]', { skip: noIpv6 ? 'this machine has no IPv6 loopback (cannot listen on ::1)' : false }, async () => {
    const gw = await startTestGateway(await makeRepository([{ from: join(FIXTURE_MODELS, 'tiny-dynamic') }]), { host: '::1' });
    const client = new GatewayClient(`[::1]:${gw.gateway.grpcPort}`);
    try {
      const reply = await client.classify({ model: 'tiny-dynamic', image: await solidImage(32, 32) });
      assert.equal(reply.labels.length, 4);
      const ready = await fetch(`http://[::1]:${gw.gateway.httpPort}/readyz`);
      assert.equal(ready.status, 200);
      const services = await reflectionServices(`[::1]:${gw.gateway.grpcPort}`);
      assert.ok(services.includes('grpc.health.v1.Health'));
    } finally {
      client.close();
      await gw.stop();
    }
  });
});
