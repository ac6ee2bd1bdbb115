// How a request's work learns that its caller went away: the part of AbortSignal the queue, the
// decode gate and the batch fan-outs read (an AbortSignal is one), and a plain implementation for
// the transports. Node's AbortController is an EventTarget: creating one and aborting it (grpc-js
// ends every call with a 'cancelled' event, so every call's signal is aborted) costs tens of
// microseconds of main-thread time per request, as much as the rest of the request scope.

/** A request's cancellation, as its work reads it; `AbortSignal` satisfies it. */
export interface Cancellation {
  readonly aborted: boolean;
  /** Calls `listener` once, when it aborts; never when it aborted already (check `aborted` first). */
  addEventListener(type: 'abort', listener: () => void, options?: { readonly once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** A Cancellation its owner aborts once: a flag and a listener list. */
export class CallCancellation implements Cancellation {
  private abortedFlag = false;
  private listeners: (() => void)[] | undefined;

  get aborted(): boolean {
    return this.abortedFlag;
  }

  /** Listeners run once anyway: `once` changes nothing. */
  addEventListener(_type: 'abort', listener: () => void, _options?: { readonly once?: boolean }): void {
    if (this.abortedFlag) return;
    (this.listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const listeners = this.listeners;
    if (listeners === undefined) return;
    const index = listeners.indexOf(listener);
    if (index >= 0) listeners.splice(index, 1);
  }

  /** Marks it aborted and calls each listener once; as with an AbortSignal, one removed by an earlier listener is not called. */
  abort(): void {
    if (this.abortedFlag) return;
    this.abortedFlag = true;
    const listeners = this.listeners;
    if (listeners === undefined) return;
    for (const listener of [...listeners]) if (listeners.includes(listener)) listener();
    this.listeners = undefined;
  }
}

/**
 * Runs `run` on every item at once under one cancellation that follows `outer`; the first failure
 * cancels the others (their requests leave the queue) and is thrown.
 */
export async function allOrCancel<T, R>(items: readonly T[], run: (item: T, signal: Cancellation) => Promise<R>, outer: Cancellation | undefined): Promise<R[]> {
  const abort = new CallCancellation();
  const onOuterAbort = (): void => abort.abort();
  if (outer?.aborted) abort.abort();
  outer?.addEventListener('abort', onOuterAbort, { once: true });
  try {
    return await Promise.all(
      items.map((item) =>
        run(item, abort).catch((err: unknown) => {
          abort.abort();
          throw err;
        }),
      ),
    );
  } finally {
    outer?.removeEventListener('abort', onOuterAbort);
  }
}
