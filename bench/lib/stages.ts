// The stages of the gateway's request path, and which frames of a call stack belong to each: a
// sample goes to the nearest frame, from the leaf up, that a rule knows (a file of src/, a package,
// a native library, V8's collector); Node's own internals and the kernel count for whichever frame
// called them. Used by bench/profile.ts on perf samples and on V8 allocation profiles.

/** A frame: a JS function and its script URL, or a native symbol and its library (as url). */
export interface CallFrame {
  readonly functionName: string;
  readonly url: string;
}

/** A stage of the request path and how to recognise its frames. */
export interface StageRule {
  readonly stage: string;
  readonly match: (frame: CallFrame) => boolean;
}

const url = (re: RegExp) => (f: CallFrame) => re.test(f.url);

/**
 * The request path's stages, most specific first. Files are matched by name so the rules keep
 * working while src/ is reorganised (server/call.ts, batching/admission.ts are the redesign's names).
 */
export const STAGE_RULES: readonly StageRule[] = [
  { stage: 'GC', match: (f) => f.functionName === '(garbage collector)' || (/\/node$/.test(f.url) && /^v8::internal::(Heap|Scavenger|Scavenging|MarkCompact|MinorMarkCompact|MinorMC|Sweeper|ConcurrentMarking|IncrementalMarking|MarkingVisitor|MemoryAllocator|ArrayBufferSweeper|GCTracer|ScavengerCollector|MarkingBarrier|.*MarkingVisitor|.*Evacuat)/.test(f.functionName)) },
  { stage: 'thread wake-ups, context switches (kernel)', match: (f) => /^(finish_task_switch|__schedule|schedule|__switch_to|try_to_wake_up|futex_wake|futex_wait|futex_q_lock|wake_up_q|ttwu_|enqueue_task|dequeue_task)/.test(f.functionName) },
  { stage: 'JIT compilation', match: (f) => /^v8::internal::(compiler|baseline|maglev|Compiler|OptimizingCompileDispatcher|CompileTask|BackgroundCompileTask|Parser|Scanner)/.test(f.functionName) },
  { stage: 'malloc/free (caller not recorded)', match: (f) => /libc\.so/.test(f.url) && /^(_int_malloc|malloc|_int_free|cfree|free|malloc_consolidate|unlink_chunk|realloc|_int_realloc|calloc|tcache_)/.test(f.functionName) },
  { stage: 'sharp decode', match: url(/libvips|sharp-[^/]*\.node|libjpeg|libspng|libpng|libwebp|libexif|liblcms|libglib|libgobject|libgio|libz\.so/) },
  { stage: 'session.run', match: url(/libonnxruntime|onnxruntime_binding\.node/) },
  { stage: 'protocol (gRPC server, HTTP/2)', match: (f) => /nghttp2|node::http2::/.test(f.functionName) },
  {
    stage: 'socket I/O (libuv, kernel)',
    match: (f) => /^(uv__read|uv__write|uv__try_write|uv__stream_io|uv__server_io|uv_try_write|uv_write2?)$|LibuvStreamWrap|StreamBase::|^(tcp_|sock_|inet_|__sys_(recv|send)|do_writev|do_readv|__x64_sys_(sendmsg|recvmsg|writev|readv|read|write)$)/.test(f.functionName),
  },
  { stage: 'event loop (epoll, timers)', match: (f) => /^(uv__io_poll|uv__run_timers|uv_run|__x64_sys_epoll_wait|do_epoll_wait|ep_poll)$/.test(f.functionName) },
  { stage: 'idle', match: (f) => f.functionName === '(idle)' },
  { stage: 'metrics/logging', match: url(/node_modules\/(prom-client|pino|pino-std-serializers|sonic-boom|thread-stream)\/|src\/(metrics|logger)\.ts/) },
  { stage: 'serialization (protobuf)', match: url(/node_modules\/(protobufjs|@protobufjs\/[^/]+|@grpc\/proto-loader)\//) },
  { stage: 'protocol (gRPC server, HTTP/2)', match: url(/node_modules\/@grpc\/grpc-js\/|node_modules\/grpc-health-check\//) },
  { stage: 'protocol (HTTP: fastify)', match: url(/node_modules\/(fastify|@fastify\/[^/]+|find-my-way|light-my-request|avvio)\//) },
  { stage: 'sharp decode', match: url(/node_modules\/sharp\/|src\/models\/preprocess\.ts|src\/models\/image[^/]*\.ts/) },
  { stage: 'session.run', match: url(/node_modules\/onnxruntime-(node|common)\/|src\/models\/ort\.ts/) },
  { stage: 'session thread hop', match: url(/src\/models\/session(-worker)?\.ts|node:internal\/worker/) },
  { stage: 'admission', match: url(/src\/batching\/(gate|admission|latency|recent-minimum)\.ts/) },
  { stage: 'queue/batch', match: url(/src\/batching\/|src\/models\/buffer-pool\.ts/) },
  { stage: 'postprocess', match: url(/src\/models\/(classifier|clip|clip-scores)\.ts/) },
  { stage: 'request scope', match: url(/src\/server\/|src\/(errors|cancellation)\.ts|src\/models\/(served|repository)[^/]*\.ts/) },
  { stage: 'other src/', match: url(/\/src\//) },
  { stage: 'other packages', match: url(/node_modules\//) },
];

/** The stage of a call-tree node: the nearest frame from `id` up to the root that a rule knows. */
export function stageResolver(frameOf: (id: number) => CallFrame, parentOf: (id: number) => number | undefined, rules: readonly StageRule[] = STAGE_RULES): (id: number) => string {
  const memo = new Map<number, string>();
  return (id) => {
    const known = memo.get(id);
    if (known !== undefined) return known;
    let stage = 'native / unattributed';
    for (let at: number | undefined = id; at !== undefined; at = parentOf(at)) {
      const rule = rules.find((r) => r.match(frameOf(at)));
      if (rule) {
        stage = rule.stage;
        break;
      }
    }
    memo.set(id, stage);
    return stage;
  };
}
