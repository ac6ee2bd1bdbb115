// TLS and mTLS on both transports, with a throwaway CA and certificates made by openssl at test
// time: a client trusting the CA and holding a signed certificate is served; plaintext clients,
// clients without a certificate and clients whose certificate another CA signed are refused.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { loadGatewayProto } from '../../src/server/grpc.js';
import { solidImage } from '../helpers/images.js';
import { FIXTURE_MODELS, type TestGateway, makeRepository, startTestGateway } from '../helpers/gateway.js';

function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

/** A CA, a server certificate for localhost/127.0.0.1 and a client certificate, all signed by it. */
function makePki(dir: string, prefix: string): void {
  openssl(dir, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${prefix} test CA`, '-keyout', `${prefix}-ca.key`, '-out', `${prefix}-ca.pem`);
  for (const who of ['server', 'client']) {
    openssl(dir, 'req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${who === 'server' ? 'localhost' : `${prefix}-client`}`, '-keyout', `${prefix}-${who}.key`, '-out', `${prefix}-${who}.csr`);
    writeFileSync(join(dir, `${prefix}-${who}.ext`), who === 'server' ? 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' : 'extendedKeyUsage=clientAuth\n');
    openssl(dir, 'x509', '-req', '-in', `${prefix}-${who}.csr`, '-CA', `${prefix}-ca.pem`, '-CAkey', `${prefix}-ca.key`, '-CAcreateserial', '-days', '1', '-extfile', `${prefix}-${who}.ext`, '-out', `${prefix}-${who}.pem`);
  }
}

describe('TLS and mTLS', () => {
  let gw: TestGateway;
  let dir: string;
  let image: Buffer;
  const file = (name: string): Buffer => readFileSync(join(dir, name));

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gateway-pki-'));
    makePki(dir, 'good');
    makePki(dir, 'evil');
    gw = await startTestGateway(await makeRepository([{ from: join(FIXTURE_MODELS, 'tiny-dynamic') }]), {
      tlsCert: join(dir, 'good-server.pem'),
      tlsKey: join(dir, 'good-server.key'),
      tlsClientCa: join(dir, 'good-ca.pem'),
    });
    image = await solidImage(32, 32);
  });
  after(() => gw.stop());

  const httpsPost = (client: 'good' | 'evil' | 'none'): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: gw.gateway.httpPort,
          path: '/v1/classify?model=tiny-dynamic',
          method: 'POST',
          headers: { 'content-type': 'image/png' },
          ca: file('good-ca.pem'),
          ...(client !== 'none' ? { cert: file(`${client}-client.pem`), key: file(`${client}-client.key`) } : {}),
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(image);
    });

  const grpcClassify = (credentials: grpc.ChannelCredentials): Promise<string> => {
    const { grpcObject } = loadGatewayProto();
    const Ctor = ((grpcObject['gateway'] as grpc.GrpcObject)['v1'] as grpc.GrpcObject)['InferenceGateway'] as grpc.ServiceClientConstructor;
    const client = new Ctor(`localhost:${gw.gateway.grpcPort}`, credentials);
    return new Promise<string>((resolve) => {
      (client as unknown as { Classify: (r: object, o: object, cb: (e: grpc.ServiceError | null) => void) => void }).Classify({ model: 'tiny-dynamic', image }, { deadline: Date.now() + 5000 }, (err) => {
        client.close();
        resolve(err ? grpc.status[err.code] : 'OK');
      });
    });
  };

  it('serves HTTPS to a client with a certificate from the trusted CA', async () => {
    assert.equal(await httpsPost('good'), 200);
  });

  it('refuses HTTPS clients without a certificate or with one from another CA', async () => {
    await assert.rejects(httpsPost('none'));
    await assert.rejects(httpsPost('evil'));
  });

  it('refuses plaintext HTTP', async () => {
    await assert.rejects(fetch(`http://127.0.0.1:${gw.gateway.httpPort}/healthz`));
  });

  it('serves gRPC over mTLS and refuses plaintext and wrong-CA clients', async () => {
    const ca = file('good-ca.pem');
    assert.equal(await grpcClassify(grpc.credentials.createSsl(ca, file('good-client.key'), file('good-client.pem'))), 'OK');
    assert.equal(await grpcClassify(grpc.credentials.createInsecure()), 'UNAVAILABLE');
    assert.equal(await grpcClassify(grpc.credentials.createSsl(ca, file('evil-client.key'), file('evil-client.pem'))), 'UNAVAILABLE');
    assert.equal(await grpcClassify(grpc.credentials.createSsl(file('evil-ca.pem'), file('good-client.key'), file('good-client.pem'))), 'UNAVAILABLE');
  });
});
