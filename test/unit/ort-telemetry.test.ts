// onnxruntime's telemetry switch: off by default through ORT_DISABLE_TELEMETRY, on only when
// allowed, and an operator's own ORT_DISABLE_TELEMETRY left as it is. (That the switch keeps a real
// gateway process from writing telemetry files is tested in test/integration/process.test.ts.)
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configureOrtTelemetry } from '../../src/models/ort-telemetry.js';

describe('configureOrtTelemetry()', () => {
  it('turns it off by default', () => {
    const env: NodeJS.ProcessEnv = {};
    assert.equal(configureOrtTelemetry(false, env), 'off');
    assert.equal(env['ORT_DISABLE_TELEMETRY'], '1');
  });
  it('leaves the environment alone when telemetry is allowed', () => {
    const env: NodeJS.ProcessEnv = {};
    assert.equal(configureOrtTelemetry(true, env), 'on');
    assert.equal('ORT_DISABLE_TELEMETRY' in env, false);
  });
  it("keeps the operator's own setting, either way", () => {
    for (const value of ['0', '1', 'false', '']) {
      for (const allowed of [false, true]) {
        const env: NodeJS.ProcessEnv = { ORT_DISABLE_TELEMETRY: value };
        assert.equal(configureOrtTelemetry(allowed, env), `ORT_DISABLE_TELEMETRY=${value} from the environment`);
        assert.equal(env['ORT_DISABLE_TELEMETRY'], value);
      }
    }
  });
  it('undoes its own switch when a later gateway in the process allows telemetry', () => {
    const env: NodeJS.ProcessEnv = {};
    configureOrtTelemetry(false, env);
    assert.equal(configureOrtTelemetry(false, env), 'off');
    assert.equal(configureOrtTelemetry(true, env), 'on');
    assert.equal('ORT_DISABLE_TELEMETRY' in env, false);
  });
});
