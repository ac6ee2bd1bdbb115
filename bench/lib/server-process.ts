// Servers under benchmark run as their own child processes, so the load generator and the server
// never share an event loop. The gateway (src/main.ts) and the naive baseline both print JSON log
// lines on stdout; ports come from those lines. Model repositories are temporary copies of one
// model folder with manifest edits (the checked-in models are never touched). When the run is
// pinned (pinning.ts), every server starts on the server CPUs.
import { type ChildProcess, spawn } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { assertOnServerCpus, serverCommandPrefix } from './pinning.js';

/** Repository root (bench/lib/../../). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A started server process and where it listens. */
export interface ServerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Undefined for servers without gRPC (the naive baseline). */
  readonly grpcPort: number | undefined;
  readonly httpPort: number;
  /** The transport server's bare node:http2 gRPC listener (bench/transport-server.ts). */
  readonly rawH2Port?: number | undefined;
  /** SIGTERM, then waits for exit (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<void>;
}

interface LogLine {
  msg?: string;
  grpcPort?: number;
  httpPort?: number;
  rawH2Port?: number;
  unavailable?: string[];
}

/**
 * Spawns `node --import tsx <script> ...args` and resolves once it logged `gateway ready` (or
 * `server ready`); ports come from the `gateway listening` / `server ready` lines. Rejects if the
 * process exits first or a model is unavailable.
 */
export async function startServer(script: string, args: readonly string[], options: { startTimeoutMs?: number; env?: NodeJS.ProcessEnv; root?: string } = {}): Promise<ServerProcess> {
  // BENCH_SERVER_NODE_ARGS passes flags to the server's node only (e.g. "--cpu-prof --cpu-prof-dir=prof");
  // BENCH_SERVER_CWD runs it in another directory (where a profiler writes its files).
  const nodeArgs = process.env.BENCH_SERVER_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? [];
  // `root` runs another checkout's server (its own src/ and node_modules) under this harness.
  const root = options.root ?? ROOT;
  const cwd = process.env.BENCH_SERVER_CWD ?? root;
  // taskset execs node in place, so the child's pid is the server's.
  const [command, ...prefixArgs] = [...serverCommandPrefix(), process.execPath];
  const child = spawn(command, [...prefixArgs, ...nodeArgs, '--import', import.meta.resolve('tsx'), join(root, script), ...args], {
    cwd,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: options.env ?? process.env,
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const kill = async (graceMs = 10_000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  const ready = (async (): Promise<{ grpcPort: number | undefined; httpPort: number; rawH2Port: number | undefined }> => {
    let grpcPort: number | undefined;
    let httpPort: number | undefined;
    let rawH2Port: number | undefined;
    for await (const text of createInterface({ input: child.stdout })) {
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        continue;
      }
      if (line.grpcPort !== undefined) grpcPort = line.grpcPort;
      if (line.httpPort !== undefined) httpPort = line.httpPort;
      if (line.rawH2Port !== undefined) rawH2Port = line.rawH2Port;
      if (line.msg === 'gateway ready' || line.msg === 'server ready') {
        if (line.unavailable?.length) throw new Error(`${script}: model unavailable: ${line.unavailable.join(', ')}`);
        if (httpPort === undefined) throw new Error(`${script} reported ready without an HTTP port`);
        return { grpcPort, httpPort, rawH2Port };
      }
    }
    throw new Error(`${script} exited before it was ready (code ${child.exitCode})`);
  })();
  const timeoutMs = options.startTimeoutMs ?? 120_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    const ports = await Promise.race([
      ready,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${script} not ready within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    child.stdout.resume(); // keep draining logs so the child never blocks on a full pipe
    assertOnServerCpus(child.pid!);
    return { child, pid: child.pid!, ...ports, stop: kill };
  } catch (err) {
    await kill(2000);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Execution provider of the gateways the benchmarks start (`--execution-provider` of bench/index.ts). */
let executionProvider: 'cpu' | 'cuda' = 'cpu';

export function setExecutionProvider(provider: 'cpu' | 'cuda'): void {
  executionProvider = provider;
}

export function benchExecutionProvider(): 'cpu' | 'cuda' {
  return executionProvider;
}

/** Starts the real gateway (`root`/src/main.ts) on ephemeral loopback ports over `modelsDir` (CPU provider unless set). */
export function startGatewayProcess(modelsDir: string, extraArgs: readonly string[] = [], root = ROOT, env?: NodeJS.ProcessEnv): Promise<ServerProcess> {
  return startServer('src/main.ts', ['--grpc-port', '0', '--http-port', '0', '--models-dir', modelsDir, '--execution-provider', executionProvider, ...extraArgs], { root, ...(env ? { env } : {}) });
}

/** A temporary model repository holding one model folder; `remove` deletes it. */
export interface TempRepository {
  readonly root: string;
  readonly model: string;
  remove(): Promise<void>;
}

/** Copies `modelDir` into a fresh temporary repository, merging `batching` into its model.json's batching. */
export async function makeModelRepository(modelDir: string, batching: Record<string, unknown> = {}): Promise<TempRepository> {
  const root = await mkdtemp(join(tmpdir(), 'bench-models-'));
  const model = basename(modelDir);
  await cp(modelDir, join(root, model), { recursive: true });
  const manifestPath = join(root, model, 'model.json');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as { batching?: Record<string, unknown> };
  manifest.batching = { ...manifest.batching, ...batching };
  await writeFile(manifestPath, JSON.stringify(manifest, null, 2));
  return { root, model, remove: () => rm(root, { recursive: true, force: true }) };
}

/** Starts a gateway over a temporary copy of `modelDir` with `batching` edits; stopping it also removes the copy. */
export async function startGatewayWith(modelDir: string, batching: Record<string, unknown>, extraArgs: readonly string[] = [], root = ROOT, env?: NodeJS.ProcessEnv): Promise<ServerProcess & { repository: TempRepository }> {
  const repository = await makeModelRepository(modelDir, batching);
  try {
    const server = await startGatewayProcess(repository.root, extraArgs, root, env);
    return {
      ...server,
      repository,
      stop: async (graceMs?: number) => {
        await server.stop(graceMs);
        await repository.remove();
      },
    };
  } catch (err) {
    await repository.remove();
    throw err;
  }
}
