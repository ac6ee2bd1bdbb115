// Configuration sources and precedence: defaults < env < flags; bad values named.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config.js';

describe('loadConfig()', () => {
  it('has the documented defaults', () => {
    const c = loadConfig([], {});
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.httpPort, 8080);
    assert.equal(c.grpcPort, 50051);
    assert.equal(c.modelsDir, 'models');
    assert.equal(c.executionProvider, 'auto');
  });
  it('reads GATEWAY_* environment variables', () => {
    const c = loadConfig([], { GATEWAY_HOST: '0.0.0.0', GATEWAY_HTTP_PORT: '9000', GATEWAY_GRPC_PORT: '9001', GATEWAY_MODELS_DIR: '/m' });
    assert.deepEqual([c.host, c.httpPort, c.grpcPort, c.modelsDir], ['0.0.0.0', 9000, 9001, '/m']);
  });
  it('lets flags win over the environment', () => {
    const c = loadConfig(['--http-port', '7000', '--models-dir', 'zoo', '--host', '::1', '--grpc-port', '7001'], { GATEWAY_HTTP_PORT: '9000', GATEWAY_MODELS_DIR: '/m' });
    assert.deepEqual([c.host, c.httpPort, c.grpcPort, c.modelsDir], ['::1', 7000, 7001, 'zoo']);
  });
  it('takes an IPv6 host with or without brackets', () => {
    assert.equal(loadConfig([], { GATEWAY_HOST: '::1' }).host, '::1');
    assert.equal(loadConfig([], { GATEWAY_HOST: '[::1]' }).host, '::1');
    assert.equal(loadConfig(['--host', '[fd00::5]'], {}).host, 'fd00::5');
  });
  it('names a bad value', () => {
    assert.throws(() => loadConfig(['--http-port', '70000'], {}), /httpPort/);
    assert.throws(() => loadConfig(['--execution-provider', 'tpu'], {}), /executionProvider/);
  });
  it('refuses unknown flags', () => assert.throws(() => loadConfig(['--htp-port', '1'], {}), /htp-port/));
  it('leaves intra-op threads to the gateway and keeps them from spinning unless told', () => {
    const c = loadConfig([], {});
    assert.deepEqual([c.intraOpThreads, c.intraOpSpinning], [0, false]);
    const on = loadConfig(['--intra-op-threads', '3'], { GATEWAY_INTRA_OP_SPINNING: 'true' });
    assert.deepEqual([on.intraOpThreads, on.intraOpSpinning], [3, true]);
    assert.throws(() => loadConfig(['--intra-op-spinning', 'yes'], {}), /intraOpSpinning/);
  });
  it("keeps onnxruntime's telemetry off unless told", () => {
    assert.equal(loadConfig([], {}).onnxruntimeTelemetry, false);
    assert.equal(loadConfig([], { GATEWAY_ONNXRUNTIME_TELEMETRY: 'true' }).onnxruntimeTelemetry, true);
    assert.equal(loadConfig(['--onnxruntime-telemetry', 'false'], { GATEWAY_ONNXRUNTIME_TELEMETRY: 'true' }).onnxruntimeTelemetry, false);
    assert.throws(() => loadConfig(['--onnxruntime-telemetry', 'maybe'], {}), /onnxruntimeTelemetry/);
  });
  it('runs session threads at the gateway priority unless told; 0-19', () => {
    assert.equal(loadConfig([], {}).sessionNiceOffset, 0);
    assert.equal(loadConfig(['--session-nice-offset', '10'], {}).sessionNiceOffset, 10);
    assert.equal(loadConfig([], { GATEWAY_SESSION_NICE_OFFSET: '4' }).sessionNiceOffset, 4);
    assert.throws(() => loadConfig(['--session-nice-offset', '20'], {}), /sessionNiceOffset/);
    assert.throws(() => loadConfig([], { GATEWAY_SESSION_NICE_OFFSET: '-1' }), /sessionNiceOffset/);
  });
});
