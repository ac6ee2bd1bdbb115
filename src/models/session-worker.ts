// Worker-thread host of one onnxruntime session. onnxruntime-node runs inference synchronously on
// the calling thread, so each model instance lives in its own worker: the main thread keeps
// serving I/O, timers and preprocessing while batches run. Protocol: see session.ts.
import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { type OutputData, type SessionOptions, type TensorData, ioInfo, openOrtSession, runOrtSession } from './ort.js';

interface RunMessage {
  readonly id: number;
  readonly type: 'run';
  readonly feeds: Record<string, TensorData>;
  readonly outputNames: string[];
  /** Hand the input buffers back with the answer (the caller pools them). */
  readonly returnInputs: boolean;
}

const { path, options } = workerData as { path: string; options: SessionOptions };
const port = parentPort!;
const priorityProblem = lowerPriority(options.niceOffset ?? 0);

openOrtSession(path, options).then(
  ({ session, provider, fallbackReason }) => {
    port.postMessage({
      type: 'opened',
      provider,
      fallbackReason,
      priorityProblem,
      inputNames: [...session.inputNames],
      outputNames: [...session.outputNames],
      inputs: ioInfo(session.inputMetadata),
      outputs: ioInfo(session.outputMetadata),
    });
    port.on('message', (msg: RunMessage | { type: 'release' }) => {
      if (msg.type === 'release') {
        void session.release().finally(() => port.close());
        return;
      }
      // onnxruntime is done with the inputs once run settles; they go back only when asked for.
      const inputs = msg.returnInputs ? [...new Set(Object.values(msg.feeds).flatMap((t) => (Array.isArray(t.data) ? [] : [t.data.buffer as ArrayBuffer])))] : [];
      runOrtSession(session, msg.feeds, msg.outputNames).then(
        (outputs) => {
          // Copy out of onnxruntime's buffers into ones this thread owns, then hand them over
          // (string outputs are plain arrays: cloned with the message).
          const owned: Record<string, OutputData> = {};
          const transfer: ArrayBuffer[] = [...inputs];
          for (const [name, t] of Object.entries(outputs)) {
            const data = t.data.slice();
            if (!Array.isArray(data)) transfer.push(data.buffer);
            owned[name] = { type: t.type, data, dims: t.dims };
          }
          port.postMessage({ type: 'result', id: msg.id, outputs: owned, inputs }, transfer);
        },
        (err: unknown) => port.postMessage({ type: 'error', id: msg.id, message: err instanceof Error ? err.message : String(err), inputs }, inputs),
      );
    });
  },
  (err: unknown) => {
    port.postMessage({ type: 'open-failed', message: err instanceof Error ? err.message : String(err) });
  },
);

/**
 * Runs this thread (and the intra-op threads onnxruntime starts from it) `offset` nice steps below
 * the rest of the process. On a loaded CPU host the request path (protocol, decoding on libuv's
 * pool) then goes first: a batch that has been handed over runs in the gaps, so more requests join
 * the next one and the threads preempt each other less (gateway CPU per request in
 * docs/performance.md). Nothing changes when the core is otherwise idle. Under open-loop overload
 * the decoding never pauses, and the batches then wait behind it past their deadlines: an option
 * for throughput-bound work with loose deadlines, off by default. On Linux a nice value
 * belongs to a thread (setpriority on the calling thread's id); elsewhere it would lower the whole
 * process, so it is applied on Linux only. Returns why it could not be applied, if so.
 */
function lowerPriority(offset: number): string | undefined {
  if (offset <= 0 || process.platform !== 'linux') return undefined;
  try {
    setPriority(Math.min(19, getPriority() + offset));
    return undefined;
  } catch (err) {
    return `could not lower the session thread's priority by ${offset}: ${err instanceof Error ? err.message : String(err)}`;
  }
}
