// redactPaths: server paths out of client-visible text, API routes and relative names left alone.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redactPaths } from '../../src/redact.js';

const ROOT = '/srv/gateway/models';

describe('redactPaths', () => {
  const cases: [string, string | undefined, string][] = [
    ['cannot open /srv/gateway/models/foo/1/model.onnx: Load model from /srv/gateway/models/foo/1/model.onnx failed', ROOT, 'cannot open foo/1/model.onnx: Load model from foo/1/model.onnx failed'],
    ['no version folders (1, 2, ...) in /srv/gateway/models/bar', ROOT, 'no version folders (1, 2, ...) in bar'],
    ['cannot read model repository /srv/gateway/models', ROOT, 'cannot read model repository .'],
    ['"/srv/gateway/models/x/model.json" is not valid JSON', ROOT, '"x/model.json" is not valid JSON'],
    ['cannot open models/foo/1/model.onnx', 'models', 'cannot open foo/1/model.onnx'],
    ['cannot open models/foo/1/model.onnx', 'models/', 'cannot open foo/1/model.onnx'],
    ['CUDA unavailable (/home/u/app/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so not installed); using CPU', undefined, 'CUDA unavailable (onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so not installed); using CPU'],
    ['internal error: ENOENT: no such file, open \'/tmp/x/y/model.onnx\'', undefined, "internal error: ENOENT: no such file, open 'model.onnx'"],
    ['use /v1/zero-shot or /v1/embed for clip models', ROOT, 'use /v1/zero-shot or /v1/embed for clip models'],
    ['Route GET:/v2/models/x not found', ROOT, 'Route GET:/v2/models/x not found'],
    ['model name "../../etc" is invalid', ROOT, 'model name "../../etc" is invalid'],
    ['a models/foo path of another root', ROOT, 'a models/foo path of another root'],
  ];
  for (const [text, root, expected] of cases) {
    it(`${text.slice(0, 60)} (root ${root ?? 'none'})`, () => assert.equal(redactPaths(text, root), expected));
  }
});
