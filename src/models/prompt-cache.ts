// The text-embedding cache of zero-shot classification: one lru-cache for the whole gateway,
// bounded in entries and in bytes, keyed by model, version, template and normalized label, so a
// repeated label set costs no text-tower run. Concurrent misses of one key share one encode.
import { LRUCache } from 'lru-cache';
import type { Metrics } from '../metrics.js';

/** One cached prompt: its L2-normalized embedding and whether the prompt was truncated. */
export interface PromptEmbedding {
  readonly embedding: Float32Array;
  readonly truncated: boolean;
}

export interface PromptCacheLimits {
  /** Most entries held; 0 disables caching. */
  readonly maxEntries: number;
  /** Most bytes held (embedding bytes + key UTF-16 bytes + a fixed overhead); 0 disables caching. */
  readonly maxBytes: number;
}

/** Bytes an entry is charged besides its embedding and key (object headers, LRU bookkeeping). */
const ENTRY_OVERHEAD_BYTES = 96;

/** Cache key of one prompt; the label is already normalized (cleaned as the tokenizer would). */
export function promptKey(model: string, version: string, template: string, normalizedLabel: string): string {
  return `${model}\u0000${version}\u0000${template}\u0000${normalizedLabel}`;
}

/** The gateway's prompt-embedding cache; shared by every CLIP version (each key names its version). */
export class PromptCache {
  private readonly cache: LRUCache<string, PromptEmbedding> | undefined;
  private readonly inFlight = new Map<string, Promise<PromptEmbedding>>();

  constructor(
    limits: PromptCacheLimits,
    private readonly metrics: Metrics,
  ) {
    if (limits.maxEntries > 0 && limits.maxBytes > 0) {
      this.cache = new LRUCache<string, PromptEmbedding>({
        max: limits.maxEntries,
        maxSize: limits.maxBytes,
        sizeCalculation: (value, key) => value.embedding.byteLength + key.length * 2 + ENTRY_OVERHEAD_BYTES,
        dispose: () => this.report(),
      });
    }
    this.report();
  }

  /** Entries held now. */
  get size(): number {
    return this.cache?.size ?? 0;
  }

  /** Approximate bytes held now. */
  get bytes(): number {
    return this.cache?.calculatedSize ?? 0;
  }

  /**
   * The embedding of `key`: from the cache (a hit), from an encode already running for it, or
   * from `encode` (a miss). A failed encode is not cached, so the next request retries.
   */
  async get(model: string, key: string, encode: () => Promise<PromptEmbedding>): Promise<{ value: PromptEmbedding; hit: boolean }> {
    const cached = this.cache?.get(key);
    if (cached) {
      this.metrics.promptCacheHits.inc({ model });
      return { value: cached, hit: true };
    }
    this.metrics.promptCacheMisses.inc({ model });
    let running = this.inFlight.get(key);
    if (!running) {
      running = encode().then(
        (value) => {
          this.inFlight.delete(key);
          this.cache?.set(key, value);
          this.report();
          return value;
        },
        (err: unknown) => {
          this.inFlight.delete(key);
          throw err;
        },
      );
      this.inFlight.set(key, running);
    }
    return { value: await running, hit: false };
  }

  /** Drops every entry of one model version (it was unloaded). */
  forget(model: string, version: string): void {
    if (!this.cache) return;
    const prefix = promptKey(model, version, '', '').slice(0, -1); // "model\0version\0"
    for (const key of [...this.cache.keys()]) if (key.startsWith(prefix)) this.cache.delete(key);
    this.report();
  }

  private report(): void {
    this.metrics.promptCacheEntries.set(this.size);
    this.metrics.promptCacheBytes.set(this.bytes);
  }
}
