// A lean unary gRPC caller over node:http2 for load generation: the request messages are
// serialized once up front (with the project's proto) and each call is one HTTP/2 stream with a
// pre-built length-prefixed frame; the answer is checked by its grpc-status trailer only. It costs
// the load generator a fraction of @grpc/grpc-js's CPU per call, which matters when the generator
// shares a small machine with the gateway it measures (on 2 cores grpc-js alone took ~1 ms of CPU
// per call, a third of the gateway's own cost).
import http2 from 'node:http2';
import { performance } from 'node:perf_hooks';

export interface H2Answer {
  /** grpc-status (0 = OK); -1 for a transport failure. */
  readonly status: number;
  readonly message: string;
}

/** One HTTP/2 connection to a gRPC server, calling one method with pre-serialized requests. */
export class H2UnaryCaller {
  private readonly session: http2.ClientHttp2Session;

  constructor(
    address: string,
    private readonly path: string,
  ) {
    this.session = http2.connect(`http://${address}`);
    this.session.on('error', () => {}); // surfaced per call
  }

  /** Frames a serialized message as gRPC does: 1 byte compressed flag, 4 bytes length, bytes. */
  static frame(message: Uint8Array): Buffer {
    const frame = Buffer.allocUnsafe(5 + message.length);
    frame[0] = 0;
    frame.writeUInt32BE(message.length, 1);
    frame.set(message, 5);
    return frame;
  }

  /** Sends one framed request; `timeoutMs` becomes the grpc-timeout header (a real deadline). */
  call(frame: Buffer, timeoutMs?: number): Promise<H2Answer> {
    return new Promise((resolve) => {
      const headers: http2.OutgoingHttpHeaders = { ':method': 'POST', ':path': this.path, 'content-type': 'application/grpc', te: 'trailers' };
      if (timeoutMs !== undefined) headers['grpc-timeout'] = `${Math.max(1, Math.round(timeoutMs))}m`;
      let stream: http2.ClientHttp2Stream;
      try {
        stream = this.session.request(headers);
      } catch (err) {
        resolve({ status: -1, message: String(err) });
        return;
      }
      let status: number | undefined;
      let message = '';
      const take = (h: http2.IncomingHttpHeaders): void => {
        if (h['grpc-status'] !== undefined) {
          status = Number(h['grpc-status']);
          message = decodeURIComponent(String(h['grpc-message'] ?? ''));
        }
      };
      stream.on('response', take); // trailers-only answers (errors) carry the status here
      stream.on('trailers', take);
      stream.on('data', () => {});
      stream.on('error', (err) => status === undefined && (status = -1, message = String(err)));
      stream.on('close', () => resolve({ status: status ?? -1, message }));
      stream.end(frame);
    });
  }

  close(): void {
    this.session.close();
  }
}

/**
 * Keeps `concurrency` calls of `client` in flight (frames in turn) until `total` have answered OK;
 * rejects on the first other answer. `record` gets each call's latency in µs; with it, progress
 * goes to stderr when that is a terminal.
 */
export async function driveClosedLoop(client: H2UnaryCaller, frames: readonly Buffer[], total: number, concurrency: number, record?: (micros: number) => void): Promise<void> {
  let issued = 0;
  let done = 0;
  let lastReport = 0;
  await new Promise<void>((resolve, reject) => {
    const next = (): void => {
      if (issued >= total) return;
      const i = issued++;
      const start = performance.now();
      client.call(frames[i % frames.length]!).then((answer) => {
        if (answer.status !== 0) {
          reject(new Error(`call failed: grpc-status ${answer.status} ${answer.message}`));
          return;
        }
        record?.(Math.round((performance.now() - start) * 1000));
        done++;
        if (record && process.stderr.isTTY && done - lastReport >= total / 20) {
          lastReport = done;
          process.stderr.write(`\r  ${done}/${total}`);
        }
        if (done === total) resolve();
        else next();
      }, reject);
    };
    for (let c = 0; c < concurrency; c++) next();
  });
  if (record && process.stderr.isTTY) process.stderr.write('\r');
}
