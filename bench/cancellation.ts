// Micro-benchmark (not a test): what one request's cancellation costs the main thread, as a gRPC
// unary call uses it: created, subscribed to the call's 'cancelled' event, one listener added and
// removed (the queue entry), then aborted by the 'cancelled' event grpc-js emits at the end of
// every call. Node's AbortController against src/cancellation.ts's CallCancellation.
//   npx tsx bench/cancellation.ts [--iterations 200000]
import { EventEmitter } from 'node:events';
import { parseArgs } from 'node:util';
import { CallCancellation } from '../src/cancellation.js';

const { values } = parseArgs({ options: { iterations: { type: 'string', default: '200000' } } });
const iterations = Number(values.iterations);
const REASON = new Error('cancelled');

function nsPerIteration(cycle: () => void): number {
  for (let i = 0; i < iterations / 10; i++) cycle(); // warm-up: let the JIT settle
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) cycle();
  return Number(process.hrtime.bigint() - t0) / iterations;
}

const listener = (): void => {};
const results = {
  AbortController: nsPerIteration(() => {
    const call = new EventEmitter();
    const abort = new AbortController();
    call.on('cancelled', () => abort.abort(REASON));
    const signal = abort.signal;
    if (!signal.aborted) {
      signal.addEventListener('abort', listener, { once: true });
      signal.removeEventListener('abort', listener);
    }
    call.emit('cancelled');
  }),
  CallCancellation: nsPerIteration(() => {
    const call = new EventEmitter();
    const cancellation = new CallCancellation();
    call.on('cancelled', () => cancellation.abort());
    if (!cancellation.aborted) {
      cancellation.addEventListener('abort', listener, { once: true });
      cancellation.removeEventListener('abort', listener);
    }
    call.emit('cancelled');
  }),
};
for (const [name, ns] of Object.entries(results)) console.log(`${name}: ${(ns / 1000).toFixed(2)} µs per request (${iterations} iterations, GC included)`);
