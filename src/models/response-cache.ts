// A model version's opt-in response cache (Triton's response cache): answers keyed by a SHA-256
// of the model, the version and everything in the request that decides the answer (the caller
// builds the key from those parts), bounded by entries and bytes (lru-cache). A hit skips decode,
// queue and inference. Each loaded version owns its own cache, dropped with the version, so a
// reloaded version never answers from the entries of the one it replaced.
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Metrics } from '../metrics.js';
import type { ResponseCacheSettings } from './manifest.js';

/** A part of a cache key: text, or bytes (hashed as they are). */
export type KeyPart = string | number | Uint8Array;

/** Bytes a key costs in the cache beside its answer (a hex SHA-256 and the map entry). */
const KEY_BYTES = 64 + 48;

export class ResponseCache<V extends object> {
  private readonly cache: LRUCache<string, V>;
  private readonly labels: { model: string; version: string };

  /** `sizeOf` says how many bytes an answer holds (for maxBytes). */
  constructor(
    settings: ResponseCacheSettings,
    private readonly sizeOf: (value: V) => number,
    private readonly metrics: Metrics,
    model: string,
    version: string,
  ) {
    this.labels = { model, version };
    this.cache = new LRUCache<string, V>({
      max: settings.maxEntries,
      maxSize: settings.maxBytes,
      // An answer bigger than the whole cache is not cached (lru-cache refuses it rather than throw).
      sizeCalculation: (value) => Math.max(1, this.sizeOf(value) + KEY_BYTES),
    });
    this.report();
  }

  /** The key of a request: a hash of the model, the version and the parts, each length-prefixed so no two part lists collide. */
  key(parts: readonly KeyPart[]): string {
    const hash = createHash('sha256');
    const length = Buffer.alloc(8);
    for (const part of [this.labels.model, this.labels.version, ...parts]) {
      const bytes = typeof part === 'string' ? Buffer.from(part, 'utf8') : typeof part === 'number' ? Buffer.from(String(part)) : part;
      length.writeBigUInt64LE(BigInt(bytes.byteLength));
      hash.update(typeof part === 'object' ? 'b' : 's');
      hash.update(length);
      hash.update(bytes);
    }
    return hash.digest('hex');
  }

  /** The cached answer, counting a hit or a miss. */
  get(key: string): V | undefined {
    const value = this.cache.get(key);
    (value === undefined ? this.metrics.responseCacheMisses : this.metrics.responseCacheHits).inc(this.labels);
    return value;
  }

  set(key: string, value: V): void {
    if (this.sizeOf(value) + KEY_BYTES > this.cache.maxSize) return;
    this.cache.set(key, value);
    this.report();
  }

  get size(): number {
    return this.cache.size;
  }

  /**
   * Empties the cache (the version is closing). The gauges are left alone: a reloaded version's
   * replacement reports under the same labels, and an unloaded version's series are removed with it.
   */
  clear(): void {
    this.cache.clear();
  }

  private report(): void {
    this.metrics.responseCacheEntries.set(this.labels, this.cache.size);
    this.metrics.responseCacheBytes.set(this.labels, this.cache.calculatedSize);
  }
}
