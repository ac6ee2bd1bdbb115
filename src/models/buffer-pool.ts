// Reuse of the large Float32 buffers every request and batch needs (a 64x64 RGB slot is 48 KiB; a
// batch of 32 is 1.5 MiB). Allocated fresh, they are external memory that V8 only reclaims with
// full mark-compact collections: at a few hundred requests per second that was a major GC every
// couple of hundred requests, paid on the same cores that decode and infer. A pool hands out views
// of recycled buffers instead. `give` takes back only buffers the pool allocated (a caller's own
// array passing through must never be reused); `adopt` takes a buffer that came back from a session
// thread (a transferred buffer arrives as a new object, so it cannot be recognised by identity).

export class Float32Pool {
  private readonly free: ArrayBuffer[] = [];
  private readonly own = new WeakSet<ArrayBuffer>();
  private readonly maxFree: number;

  /**
   * @param capacity elements in each buffer (the largest view `take` serves from the pool)
   * @param maxFreeBytes bound on the memory kept idle in the pool (at least one buffer is kept)
   */
  constructor(
    readonly capacity: number,
    maxFreeBytes: number,
  ) {
    this.maxFree = Math.max(1, Math.floor(maxFreeBytes / (capacity * Float32Array.BYTES_PER_ELEMENT)));
  }

  /** A zero-offset view of `length` elements over a pooled buffer (contents are stale: overwrite them). */
  take(length: number): Float32Array {
    if (length > this.capacity) return new Float32Array(length);
    let buffer = this.free.pop();
    if (!buffer) {
      buffer = new ArrayBuffer(this.capacity * Float32Array.BYTES_PER_ELEMENT);
      this.own.add(buffer);
    }
    return new Float32Array(buffer, 0, length);
  }

  /** Returns the buffer of a view taken from this pool; any other array is ignored. */
  give(view: Float32Array): void {
    const buffer = view.buffer;
    if (buffer instanceof ArrayBuffer && this.own.has(buffer)) this.keep(buffer);
  }

  /** Takes in a buffer of exactly this pool's size whatever its origin (one handed back by a session thread). */
  adopt(buffer: ArrayBuffer): void {
    if (buffer.byteLength !== this.capacity * Float32Array.BYTES_PER_ELEMENT) return;
    this.own.add(buffer);
    this.keep(buffer);
  }

  private keep(buffer: ArrayBuffer): void {
    // A detached buffer (transferred away) has length 0 and must not come back.
    if (buffer.byteLength === 0 || this.free.length >= this.maxFree || this.free.includes(buffer)) return;
    this.free.push(buffer);
  }

  /** Buffers idle in the pool. */
  get idle(): number {
    return this.free.length;
  }
}

/** Batch tensors of one model version: one buffer per instance running plus one being filled. */
export function batchPool(capacity: number, instances: number): Float32Pool {
  return new Float32Pool(capacity, (instances + 1) * capacity * Float32Array.BYTES_PER_ELEMENT);
}
