// When the client retries: overload and unavailability answers (RESOURCE_EXHAUSTED / 429 as
// QUEUE_FULL or RATE_LIMITED, UNAVAILABLE / 503 as MODEL_UNAVAILABLE, SHUTTING_DOWN or no
// connection), with exponential backoff and full jitter, never sooner than the gateway's
// `retry-after`, and never past the call's deadline. PAYLOAD_TOO_LARGE is RESOURCE_EXHAUSTED over
// gRPC too, but the same request would fail the same way, so it is not retried. Pure: the caller
// owns the clock and the random source.
import type { ClientErrorCode } from './errors.js';

export interface RetryPolicy {
  /** Attempts in all, the first included (1 = no retries). */
  readonly maxAttempts: number;
  /** Backoff ceiling before the first retry, ms; doubles each retry. */
  readonly initialBackoffMs: number;
  /** Largest backoff ceiling, ms. */
  readonly maxBackoffMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = Object.freeze({ maxAttempts: 4, initialBackoffMs: 100, maxBackoffMs: 5000 });

const RETRYABLE: ReadonlySet<ClientErrorCode> = new Set(['QUEUE_FULL', 'RATE_LIMITED', 'MODEL_UNAVAILABLE', 'SHUTTING_DOWN', 'UNREACHABLE']);

/** Whether a failure with this code may succeed if the same request is sent again later. */
export function isRetryable(code: ClientErrorCode): boolean {
  return RETRYABLE.has(code);
}

/**
 * Ms to wait before retry number `retry` (1 = the first retry): a uniform draw below
 * min(maxBackoffMs, initialBackoffMs x 2^(retry-1)) (full jitter, so clients shed together do not
 * come back together), raised to the gateway's retry-after when it asked for longer.
 */
export function backoffMs(retry: number, policy: RetryPolicy, retryAfterSeconds: number | undefined, random: () => number = Math.random): number {
  const ceilingMs = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** (retry - 1));
  const jitteredMs = ceilingMs * random();
  return Math.max(jitteredMs, (retryAfterSeconds ?? 0) * 1000);
}
