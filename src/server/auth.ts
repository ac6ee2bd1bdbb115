// Optional API-key authentication, per-key model authorization and per-key rate limits, shared
// by every transport. Keys are configured as SHA-256 hashes (never in clear), compared in
// constant time, and never logged: only the key's configured name appears in logs and errors.
import { createHash, timingSafeEqual } from 'node:crypto';
import { GatewayError } from '../errors.js';

/** One configured key (see ApiKeySchema in config.ts). */
export interface ApiKeySpec {
  /** Operator-facing name, used in logs instead of the key. */
  readonly name: string;
  /** Hex SHA-256 of the key. */
  readonly sha256: string;
  /** Models this key may call; ["*"] = all. */
  readonly models: readonly string[];
  /** Sustained requests per second allowed to this key; 0 = unlimited. */
  readonly requestsPerSecond: number;
  /** Requests allowed in a burst above the sustained rate. */
  readonly burst: number;
  /** May register and delete label sets. */
  readonly admin?: boolean | undefined;
}

/** The caller, once authenticated. */
export interface Principal {
  readonly name: string;
  readonly models: readonly string[];
  /** An admin key; anonymous callers (no keys configured) count as admins of an admin API they were given. */
  readonly admin: boolean;
}

const ANONYMOUS: Principal = Object.freeze({ name: 'anonymous', models: Object.freeze(['*']), admin: true });

/** Token bucket per key: `capacity` tokens refilled at `ratePerSecond`. */
class TokenBucket {
  private tokens: number;
  private updatedAtMs: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly capacity: number,
    nowMs: number,
  ) {
    this.tokens = capacity;
    this.updatedAtMs = nowMs;
  }

  /** Takes one token, or returns the seconds until one is available. */
  take(nowMs: number): number {
    this.tokens = Math.min(this.capacity, this.tokens + ((nowMs - this.updatedAtMs) / 1000) * this.ratePerSecond);
    this.updatedAtMs = nowMs;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return (1 - this.tokens) / this.ratePerSecond;
  }
}

interface Entry {
  readonly spec: ApiKeySpec;
  readonly digest: Buffer;
  readonly bucket: TokenBucket | undefined;
}

/** Authenticates `authorization: Bearer <key>` values; with no keys configured, everyone is anonymous. */
export class Authenticator {
  private readonly entries: Entry[];

  constructor(
    keys: readonly ApiKeySpec[],
    private readonly clock: () => number = Date.now,
  ) {
    this.entries = keys.map((spec) => ({
      spec,
      digest: Buffer.from(spec.sha256, 'hex'),
      bucket: spec.requestsPerSecond > 0 ? new TokenBucket(spec.requestsPerSecond, Math.max(1, spec.burst), clock()) : undefined,
    }));
  }

  get enabled(): boolean {
    return this.entries.length > 0;
  }

  /** Checks the credential; throws UNAUTHENTICATED without one or with an unknown key. */
  authenticate(authorization: string | undefined): Principal {
    if (!this.enabled) return ANONYMOUS;
    if (!authorization) throw new GatewayError('UNAUTHENTICATED', 'missing credentials: send "authorization: Bearer <api key>"');
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match) throw new GatewayError('UNAUTHENTICATED', 'malformed authorization header: expected "Bearer <api key>"');
    const digest = createHash('sha256').update(match[1]!).digest();
    let found: Entry | undefined;
    // Compare against every key so timing does not reveal which (if any) matched.
    for (const entry of this.entries) {
      if (entry.digest.length === digest.length && timingSafeEqual(entry.digest, digest) && !found) found = entry;
    }
    if (!found) throw new GatewayError('UNAUTHENTICATED', 'invalid API key');
    const retryAfter = found.bucket?.take(this.clock()) ?? 0;
    if (retryAfter > 0) {
      throw new GatewayError('RATE_LIMITED', `rate limit of ${found.spec.requestsPerSecond} requests/s (burst ${found.spec.burst}) exceeded for key "${found.spec.name}"`, {
        retryAfterSeconds: Math.max(1, Math.ceil(retryAfter)),
      });
    }
    return { name: found.spec.name, models: found.spec.models, admin: found.spec.admin ?? false };
  }

  /** Throws PERMISSION_DENIED unless the principal may call `model`. */
  authorize(principal: Principal, model: string): void {
    if (principal.models.includes('*') || principal.models.includes(model)) return;
    throw new GatewayError('PERMISSION_DENIED', `key "${principal.name}" may not call model "${model.slice(0, 128)}"`);
  }
}

/** Hex SHA-256 of a key, as the configuration stores it (`npm run hash-key -- <key>`). */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}
