// Tracing settings from the standard OTEL_* variables, and tracing off: every entry point answers
// "nothing" without making a span, a context or a hook.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { grpcTrace, httpTrace } from '../../src/server/trace-carrier.js';
import { batchTraceHooks, startRequestTrace, tracingOn, tracingSettings } from '../../src/tracing.js';

describe('tracing settings', () => {
  it('off unless an endpoint is given; base endpoints get /v1/traces, the traces endpoint is used as given', () => {
    for (const [flag, env, expected] of [
      ['', {}, undefined],
      ['http://collector:4318', {}, { url: 'http://collector:4318/v1/traces', protocol: 'http/protobuf', serviceName: 'inference-gateway' }],
      ['', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/' }, { url: 'http://c:4318/v1/traces', protocol: 'http/protobuf', serviceName: 'inference-gateway' }],
      ['', { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/custom', OTEL_SERVICE_NAME: 'gw' }, { url: 'http://c:4318/custom', protocol: 'http/protobuf', serviceName: 'gw' }],
      ['http://flag:4318', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://env:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }, { url: 'http://flag:4318/v1/traces', protocol: 'http/json', serviceName: 'inference-gateway' }],
      ['http://c:4318', { OTEL_SDK_DISABLED: 'true' }, undefined],
    ] as const) {
      assert.deepEqual(tracingSettings(flag, env), expected, `${flag} ${JSON.stringify(env)}`);
    }
    assert.throws(() => tracingSettings('http://c:4317', { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }), /"grpc" is not supported: use http\/protobuf/);
  });

  it('off: no carrier, no span, no batcher hooks', () => {
    assert.equal(tracingOn(), false);
    const request = { headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }, method: 'POST', routeOptions: { url: '/v1/classify' }, url: '/v1/classify' };
    assert.equal(httpTrace(request as never), undefined);
    assert.equal(grpcTrace({ metadata: {} as never, getPath: () => '/gateway.v1.InferenceGateway/Classify' }), undefined);
    assert.equal(startRequestTrace({ operation: 'POST /v1/classify' }, 0), undefined);
    assert.deepEqual(batchTraceHooks('m', '1'), {});
  });
});
