// The gRPC server's HTTP/2 receive windows. Node's HTTP/2 opens every stream and every connection
// with the protocol's 64 KiB window, and @grpc/grpc-js's server has no option to raise it (its
// client has `grpc-node.flow_control_window`; grpc/grpc-node#3058 proposes the same for servers).
// An image request is often larger than 64 KiB: the client then stops after each 64 KiB until the
// server's main thread has read the data and sent a WINDOW_UPDATE, so on a busy host large
// requests arrive in slices, each a turn of the event loop, and few of them are ever inside the
// gateway at once to share a batch (docs/performance.md, "Third round, 2026-12-01").
//
// The windows are raised on grpc-js's own HTTP/2 servers, which it keeps in a private field; the
// function says why when that field is not there (a grpc-js upgrade), and the gateway then serves
// with the 64 KiB windows and logs it. A test checks the windows a client is offered.
import type { Http2Server, Http2Session } from 'node:http2';
import type * as grpc from '@grpc/grpc-js';

/** HTTP/2's largest window, 2^31 - 1 bytes. */
export const MAX_WINDOW_BYTES = 2 ** 31 - 1;

/** A connection's window, as a multiple of a stream's: room for several large requests at once. */
export const CONNECTION_WINDOW_STREAMS = 4;

/**
 * Offers every new HTTP/2 connection of `server` a receive window of `streamWindowBytes` per stream
 * and CONNECTION_WINDOW_STREAMS times that per connection. Call it once the server is bound.
 * Returns why it could not, or undefined once applied.
 */
export function raiseReceiveWindows(server: grpc.Server, streamWindowBytes: number): string | undefined {
  const http2Servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(http2Servers instanceof Map)) return 'this @grpc/grpc-js keeps no http2Servers map: the gRPC server keeps the 64 KiB HTTP/2 windows';
  if (http2Servers.size === 0) return 'the gRPC server has no HTTP/2 server yet (call once it is bound): it keeps the 64 KiB HTTP/2 windows';
  const stream = Math.min(MAX_WINDOW_BYTES, streamWindowBytes);
  const connection = Math.min(MAX_WINDOW_BYTES, stream * CONNECTION_WINDOW_STREAMS);
  for (const h2 of http2Servers.keys() as IterableIterator<Http2Server>) {
    // The SETTINGS every new session sends: the per-stream window.
    h2.updateSettings({ initialWindowSize: stream });
    // The connection window is not a setting: each session raises its own with a WINDOW_UPDATE.
    h2.on('session', (session: Http2Session) => {
      // A connection torn down before this runs has no window to raise; throwing here would be an
      // uncaught exception in the server's event handler.
      if (!session.destroyed && !session.closed) session.setLocalWindowSize(connection);
    });
  }
  return undefined;
}
