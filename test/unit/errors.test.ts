// The error catalog's message factories: each recurring failure has one code, one status pair and
// one wording wherever it is raised, naming what was wrong and the limit.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { GatewayError, deadlineExceeded, invalidBase64, queueFull, tooLarge, unknownField, wrongKind } from '../../src/errors.js';

const cases: { name: string; error: GatewayError; code: string; grpc: status; http: number; message: string; retryAfterSeconds?: number }[] = [
  {
    name: 'deadline at admission (retry later)',
    error: deadlineExceeded({ stage: 'admission', timeoutMs: 50, elapsedMs: 0, needMs: { 'standing wait': 80, inference: 4.25 } }),
    code: 'DEADLINE_EXCEEDED',
    grpc: status.DEADLINE_EXCEEDED,
    http: 504,
    message: 'deadline of 50 ms cannot be met at admission (0 ms elapsed, about 84 ms still needed: 80 ms standing wait + 4.3 ms inference); refused before preprocessing',
    retryAfterSeconds: 1,
  },
  {
    name: 'deadline in the queue (no retry hint), parts of 0 ms left out',
    error: deadlineExceeded({ stage: 'queue', timeoutMs: 20, elapsedMs: 25.4, needMs: { queued: 0, inference: 0.5 } }),
    code: 'DEADLINE_EXCEEDED',
    grpc: status.DEADLINE_EXCEEDED,
    http: 504,
    message: 'deadline of 20 ms cannot be met at queue (25 ms elapsed, about 0.5 ms still needed: 0.5 ms inference); dropped before inference',
  },
  {
    name: 'queue full',
    error: queueFull({ queued: 64, maxQueueSize: 64 }),
    code: 'QUEUE_FULL',
    grpc: status.RESOURCE_EXHAUSTED,
    http: 429,
    message: 'queue full: 64 requests waiting (maxQueueSize 64); retry later',
    retryAfterSeconds: 1,
  },
  {
    name: 'wrong kind',
    error: wrongKind({ model: 'clip', kind: 'clip', needs: 'Classify needs an image-classifier', hint: 'use ZeroShotClassify for clip models' }),
    code: 'INVALID_ARGUMENT',
    grpc: status.INVALID_ARGUMENT,
    http: 400,
    message: 'model "clip" is a clip model; Classify needs an image-classifier (use ZeroShotClassify for clip models)',
  },
  {
    name: 'unknown field inside an object',
    error: unknownField({ field: 'colour', accepted: ['name', 'shape'], inside: 'inputs[0]' }),
    code: 'INVALID_ARGUMENT',
    grpc: status.INVALID_ARGUMENT,
    http: 400,
    message: 'unknown field "colour" in "inputs[0]"; accepted: name, shape',
  },
  {
    name: 'unknown query parameter where none is accepted',
    error: unknownField({ field: 'x', accepted: [], what: 'parameter' }),
    code: 'INVALID_ARGUMENT',
    grpc: status.INVALID_ARGUMENT,
    http: 400,
    message: 'unknown parameter "x"; accepted: none',
  },
  {
    name: 'invalid base64',
    error: invalidBase64({ where: 'field "image"' }),
    code: 'INVALID_ARGUMENT',
    grpc: status.INVALID_ARGUMENT,
    http: 400,
    message: 'field "image" is not valid base64',
  },
  {
    name: 'too large, size known',
    error: tooLarge({ what: 'image', sizeBytes: 11, limitBytes: 10 }),
    code: 'PAYLOAD_TOO_LARGE',
    grpc: status.RESOURCE_EXHAUSTED,
    http: 413,
    message: 'image is 11 bytes; the limit is 10 bytes',
  },
  {
    name: 'too large, size unknown',
    error: tooLarge({ what: 'input "x" data[0] decoded', limitBytes: 10 }),
    code: 'PAYLOAD_TOO_LARGE',
    grpc: status.RESOURCE_EXHAUSTED,
    http: 413,
    message: 'input "x" data[0] decoded is larger than the limit of 10 bytes',
  },
];

describe('error factories', () => {
  for (const c of cases) {
    it(c.name, () => {
      assert.ok(c.error instanceof GatewayError);
      assert.equal(c.error.code, c.code);
      assert.equal(c.error.grpcStatus, c.grpc);
      assert.equal(c.error.httpStatus, c.http);
      assert.equal(c.error.message, c.message);
      assert.equal(c.error.retryAfterSeconds, c.retryAfterSeconds);
    });
  }
});
