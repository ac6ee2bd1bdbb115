// The client's retry decision (src/client/retry.ts): which codes are retried, and the backoff:
// full jitter under a doubling ceiling, never below the gateway's retry-after. Pure, no clock.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ClientErrorCode } from '../../src/client/errors.js';
import { DEFAULT_RETRY, backoffMs, isRetryable } from '../../src/client/retry.js';

describe('client retry policy', () => {
  it('retries overload and unavailability, never a request that would fail again', () => {
    const retried: ClientErrorCode[] = ['QUEUE_FULL', 'RATE_LIMITED', 'MODEL_UNAVAILABLE', 'SHUTTING_DOWN', 'UNREACHABLE'];
    const final: ClientErrorCode[] = ['PAYLOAD_TOO_LARGE', 'INVALID_IMAGE', 'MODEL_NOT_FOUND', 'DEADLINE_EXCEEDED', 'UNAUTHENTICATED', 'INTERNAL', 'CANCELLED'];
    for (const code of retried) assert.equal(isRetryable(code), true, code);
    for (const code of final) assert.equal(isRetryable(code), false, code);
  });

  it('backoff: a jittered draw under a ceiling that doubles up to maxBackoffMs, raised to retry-after', () => {
    const policy = { maxAttempts: 6, initialBackoffMs: 100, maxBackoffMs: 1000 };
    for (const [retry, random, retryAfterSeconds, expectedMs] of [
      [1, 1, undefined, 100],
      [2, 1, undefined, 200],
      [3, 0.5, undefined, 200],
      [5, 1, undefined, 1000],
      [9, 1, undefined, 1000],
      [1, 0, undefined, 0],
      [1, 0.5, 1, 1000],
      [5, 1, 0, 1000],
      [5, 1, 3, 3000],
    ] as const) {
      assert.equal(backoffMs(retry, policy, retryAfterSeconds, () => random), expectedMs, `retry ${retry}, random ${random}, retry-after ${retryAfterSeconds}`);
    }
    assert.ok(DEFAULT_RETRY.maxAttempts > 1);
  });
});
