// What the load generator sends to: one classify request per call over gRPC (a lean HTTP/2 caller
// with the project's proto, h2-grpc.ts) or HTTP (undici pool, raw image body). An
// answer is an Outcome: ok, or a code (gRPC status name, "HTTP <status>", or a transport error).
import * as grpc from '@grpc/grpc-js';
import { Pool } from 'undici';
import { serializeRequest } from './grpc-client.js';
import { H2UnaryCaller } from './h2-grpc.js';
import type { ImageSet } from './images.js';

export type Outcome = { readonly ok: true } | { readonly ok: false; readonly code: string; /** Error message, for the report's examples. */ readonly message?: string };

/** A request sender; `send(i)` uses image i modulo the set. */
export interface Target {
  readonly protocol: 'grpc' | 'http';
  /** `deadlineEpochMs`: absolute deadline (Date.now() clock) passed to the server and enforced by the client. */
  send(i: number, deadlineEpochMs?: number): Promise<Outcome>;
  close(): Promise<void>;
}

const OK: Outcome = { ok: true };

/**
 * gRPC `Classify` on one HTTP/2 connection, through the lean caller in h2-grpc.ts (requests
 * serialized once with the project's proto): @grpc/grpc-js as a client cost about twice the CPU
 * per call, taken from the same two cores the gateway runs on. The deadline travels as
 * grpc-timeout and the gateway enforces it (answering DEADLINE_EXCEEDED itself); the caller does
 * not reset late streams, so a late OK answer counts as a miss in goodput instead.
 */
export function grpcTarget(port: number, model: string, images: ImageSet): Target {
  const frames = images.images.map((image) => H2UnaryCaller.frame(serializeRequest('Classify', { model, image, top_k: 1 })));
  const caller = new H2UnaryCaller(`127.0.0.1:${port}`, '/gateway.v1.InferenceGateway/Classify');
  return {
    protocol: 'grpc',
    send: async (i, deadlineEpochMs) => {
      let timeoutMs: number | undefined;
      if (deadlineEpochMs !== undefined) {
        timeoutMs = deadlineEpochMs - Date.now();
        if (timeoutMs <= 0) return { ok: false, code: 'DEADLINE_EXCEEDED' };
      }
      const answer = await caller.call(frames[i % frames.length]!, timeoutMs);
      if (answer.status === 0) return OK;
      return { ok: false, code: answer.status < 0 ? 'TRANSPORT' : (grpc.status[answer.status] ?? `grpc ${answer.status}`), message: answer.message };
    },
    close: async () => caller.close(),
  };
}

/** HTTP `POST <path>?model=<model>&top_k=1` with the raw image, over a keep-alive pool of `connections`. */
export function httpTarget(port: number, model: string, images: ImageSet, connections: number, path = '/v1/classify'): Target {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections, pipelining: 1, keepAliveTimeout: 60_000 });
  const fullPath = `${path}?model=${encodeURIComponent(model)}&top_k=1`;
  return {
    protocol: 'http',
    send: async (i, deadlineEpochMs) => {
      const k = i % images.images.length;
      const headers: Record<string, string> = { 'content-type': images.contentTypes[k]! };
      let signal: AbortSignal | undefined;
      if (deadlineEpochMs !== undefined) {
        const leftMs = Math.floor(deadlineEpochMs - Date.now());
        if (leftMs <= 0) return { ok: false, code: 'DEADLINE_EXCEEDED' };
        headers['x-request-timeout-ms'] = String(leftMs);
        signal = AbortSignal.timeout(leftMs);
      }
      try {
        const res = await pool.request({ method: 'POST', path: fullPath, headers, body: images.images[k]!, signal });
        const text = await res.body.text();
        return res.statusCode === 200 ? OK : { ok: false, code: `HTTP ${res.statusCode}`, message: text.slice(0, 300) };
      } catch (err) {
        const e = err as { name?: string; code?: string };
        if (e.name === 'TimeoutError' || e.name === 'AbortError' || e.code === 'UND_ERR_ABORTED') return { ok: false, code: 'DEADLINE_EXCEEDED' };
        return { ok: false, code: e.code ?? e.name ?? 'ERROR', message: String(err) };
      }
    },
    close: () => pool.close(),
  };
}
