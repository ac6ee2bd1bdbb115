// The image path every kind shares: admission in front (images still being decoded hold queue
// places; a bounded number decode at once), decoding into a slot, queueing the slot on the
// version's image batcher, and assembling a batch tensor from the slots of one batch.
import { performance } from 'node:perf_hooks';
import type { Cancellation } from '../cancellation.js';
import { Admission, type AdmissionHooks, type Deadline } from '../batching/admission.js';
import type { Batched, Batcher } from '../batching/batcher.js';
import { type Float32Pool, batchPool } from './buffer-pool.js';
import type { ImagePreprocessor } from './preprocess.js';
import type { ModelSession } from './session.js';

/**
 * Decodes running at once per version: libuv's pool size (sharp decodes there), so the pool stays
 * busy while requests beyond it wait in the gate's line, where they can be refused or cancelled
 * before any decoding, instead of in libuv's queue, where nothing can reach them.
 */
export const DECODE_PLACES = Math.max(1, Number(process.env.UV_THREADPOOL_SIZE) || 4);

/**
 * The image path every kind shares: admission (images still being decoded hold queue places, so
 * overload is refused before any decoding; a bounded number decode at once and the rest wait in
 * line, checked against their deadline when their turn comes), decoding into a slot, and queueing
 * the slot on the version's image batcher (which knows how many are coming).
 */
export class ImagePipeline<R> {
  private readonly admission: Admission;

  constructor(
    private readonly preprocessor: ImagePreprocessor,
    private readonly batcher: Batcher<Float32Array, R>,
    hooks: AdmissionHooks,
  ) {
    this.admission = new Admission(batcher, { places: DECODE_PLACES, hooks });
  }

  /**
   * Throws at once when `count` more requests may not enter: QUEUE_FULL, or (adaptive policy)
   * DEADLINE_EXCEEDED when the standing wait or the decode line already exceeds `deadline`.
   */
  admit(count = 1, deadline?: Deadline): void {
    this.admission.admit(count, deadline);
  }

  /**
   * Decodes `image` and waits for its batch; `startedAtMs` is the request's arrival (deadlines count
   * from it). With `keepInput` the answer carries a copy of the preprocessed tensor row (the slot
   * itself goes back to the pool with its batch), for a second graph that reads the same input.
   */
  async run(image: Uint8Array, options: { readonly timeoutMs: number; readonly signal?: Cancellation | undefined; readonly keepInput?: boolean | undefined }, startedAtMs: number): Promise<{ batched: Batched<R>; preprocessMs: number; input?: Float32Array | undefined }> {
    const t0 = performance.now();
    const deadline = Number.isFinite(options.timeoutMs) ? { startedAtMs, timeoutMs: options.timeoutMs } : undefined;
    const slot = await this.admission.prepare(deadline, options.signal, () => this.preprocessor.run(image));
    const preprocessMs = performance.now() - t0;
    const input = options.keepInput === true ? slot.slice() : undefined;
    const batched = await this.submit(slot, options, startedAtMs);
    return { batched, preprocessMs, input };
  }

  /** Queues an already preprocessed slot (a tensor row sent by the client) and waits for its batch. */
  submit(slot: Float32Array, options: { readonly timeoutMs: number; readonly signal?: Cancellation | undefined }, startedAtMs: number): Promise<Batched<R>> {
    return this.batcher.submit(slot, { timeoutMs: options.timeoutMs, startedAtMs, signal: options.signal });
  }
}

/**
 * Image batches of one version: copies each request's slot into a pooled batch tensor (the slot
 * goes back to the preprocessor), hands the tensor to the instance's session thread without a
 * copy, and takes its buffer back with the answer. A graph with a fixed batch size gets every
 * batch padded with zero rows to that size; the caller drops the padding rows' outputs.
 */
export class ImageBatches {
  private readonly pool: Float32Pool;

  constructor(
    private readonly preprocessor: ImagePreprocessor,
    maxBatchSize: number,
    instances: number,
    private readonly fixedBatchSize?: number,
  ) {
    this.pool = batchPool(Math.max(maxBatchSize, fixedBatchSize ?? 0) * preprocessor.slotSize, instances);
  }

  /** Rows the graph runs for a batch of `n` requests (n, or the fixed batch size). */
  rows(n: number): number {
    return this.fixedBatchSize ?? n;
  }

  run(session: ModelSession, input: string, output: string, items: readonly Float32Array[]): ReturnType<ModelSession['run']> {
    const slot = this.preprocessor.slotSize;
    const rows = this.rows(items.length);
    const batch = this.pool.take(rows * slot);
    items.forEach((item, i) => {
      batch.set(item, i * slot);
      this.preprocessor.release(item);
    });
    if (rows > items.length) batch.fill(0, items.length * slot);
    return session.run({ [input]: { data: batch, dims: [rows, ...this.preprocessor.itemDims] } }, [output], (b) => this.pool.adopt(b));
  }
}
