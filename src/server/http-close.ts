// Graceful close of the HTTP listener, in three steps so that no connection is reset:
// 1. Linger: keep accepting (every answer is then the catalog's 503 SHUTTING_DOWN or a plain
//    answer, with `connection: close`) until no new connection has arrived for `quietMs`, at most
//    `maxLingerMs`. Closing a listening socket makes the kernel reset every connection still in
//    its accept queue, so the listener closes once clients (a load balancer) stopped connecting.
// 2. Stop accepting (new connects are refused), right after an event-loop poll phase drained the
//    accept queue.
// 3. Let every open connection finish: Node's http close() destroys "idle" connections at once,
//    and a connection is idle to Node from its accept until its first request's headers are
//    parsed, and between two requests on a keep-alive connection, so a request already on the
//    wire would be reset. Here a connection is closed by its own answer, or once it has had no
//    request in flight for `idleMs`; after `timeoutMs` the rest are destroyed.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';

interface ConnectionState {
  /** Requests received on the connection and not yet answered. */
  inFlight: number;
  /** When the connection was accepted or last finished an answer (performance.now() ms). */
  quietSinceMs: number;
}

export interface GracefulCloseOptions {
  /** The listener closes once no connection arrived for this long, ms. */
  readonly quietMs: number;
  /** ... or after lingering this long, whatever arrives, ms. */
  readonly maxLingerMs: number;
  /** An open connection with no request in flight for this long is closed, ms. */
  readonly idleMs: number;
  /** After this long (from the listener's close) every remaining connection is destroyed, ms. */
  readonly timeoutMs: number;
}

/** Tracks the connections of `server` (call before it listens) and returns its graceful close. */
export function trackConnections(server: Server): (options: GracefulCloseOptions) => Promise<void> {
  const connections = new Map<Socket, ConnectionState>();
  let lastAcceptMs = performance.now();
  server.on('connection', (socket: Socket) => {
    lastAcceptMs = performance.now();
    connections.set(socket, { inFlight: 0, quietSinceMs: lastAcceptMs });
    socket.once('close', () => connections.delete(socket));
  });
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const state = connections.get(request.socket);
    if (!state) return;
    state.inFlight++;
    response.once('close', () => {
      state.inFlight--;
      state.quietSinceMs = performance.now();
    });
  });

  return async ({ quietMs, maxLingerMs, idleMs, timeoutMs }) => {
    const lingerStartMs = performance.now();
    for (;;) {
      const nowMs = performance.now();
      const quietForMs = nowMs - lastAcceptMs;
      if (quietForMs >= quietMs || nowMs - lingerStartMs >= maxLingerMs) break;
      await delay(Math.min(quietMs - quietForMs, maxLingerMs - (nowMs - lingerStartMs)) + 1);
    }
    // setImmediate runs right after a poll phase, which accepts until the queue is empty.
    await new Promise((resolve) => setImmediate(resolve));
    // net.Server's close, not http.Server's, which would also destroy idle connections at once.
    if (server.listening) NetServer.prototype.close.call(server);
    const closedMs = performance.now();
    while (connections.size > 0) {
      const nowMs = performance.now();
      const overdue = nowMs - closedMs >= timeoutMs;
      for (const [socket, state] of connections) {
        if (overdue || (state.inFlight === 0 && nowMs - state.quietSinceMs >= idleMs)) socket.destroy();
      }
      if (connections.size > 0) await delay(Math.min(25, idleMs));
    }
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
