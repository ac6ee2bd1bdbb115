// Settings and k6 `options` of the load-test scripts, read from the environment (`k6 run -e NAME=value`
// or the shell), without importing k6: the scripts export `options = loadOptions(<script>, __ENV)`
// and test/deploy/k6.test.ts checks the same function under Node. Every bad value throws an error
// that names the variable and what it accepts.

/** The scripts in loadtest/k6/, by file name without `.ts`. */
export const SCRIPTS = ['http-classify', 'http-zero-shot', 'grpc-classify'] as const;
export type ScriptName = (typeof SCRIPTS)[number];

/** Scenario names; SCENARIO picks one of them or `all` (the ramp starts when the constant rate has ended). */
export const SCENARIOS = ['constant_rate', 'ramping_vus'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/** Custom k6 Rate: the share of requests that failed or whose answer failed a check. */
export const ERROR_RATE_METRIC = 'gateway_errors';

/** Where the proto root is, relative to the script's folder (k6's gRPC `load` resolves from the entry script's folder). */
export const DEFAULT_PROTO_DIR = '../../proto';

/** Everything a script reads from its environment, resolved and checked. */
export interface Settings {
  readonly script: ScriptName;
  /** GATEWAY_HTTP_URL: base URL of the HTTP API. */
  readonly httpUrl: string;
  /** GATEWAY_GRPC_ADDR: host:port of the gRPC API. */
  readonly grpcAddr: string;
  /** GRPC_TLS=true: gRPC over TLS instead of plaintext. */
  readonly grpcTls: boolean;
  /** PROTO_DIR: the proto root (holding gateway/v1/gateway.proto). */
  readonly protoDir: string;
  readonly model: string;
  /** VERSION: empty = the highest ready version. */
  readonly version: string;
  /** TOP_K: labels asked for; 0 (zero-shot only) = every label. */
  readonly topK: number;
  /** LABELS (zero-shot, comma-separated): empty = the fixtures' label set. */
  readonly labels: readonly string[];
  /** TEMPLATE (zero-shot): empty = the model's templates. */
  readonly template: string;
  /** EXPECT_CLASS=false for a model that does not know the shapes classes: then top-1 is not checked. */
  readonly expectClass: boolean;
  /** API_KEY: sent as a bearer token; empty = none. */
  readonly apiKey: string;
  /** REQUEST_TIMEOUT_MS: the request's deadline at the gateway (and the client's own timeout); 0 = the model's default. */
  readonly requestTimeoutMs: number;
  readonly scenario: ScenarioName | 'all';
  /** RATE: iterations (one request each) started per second by constant_rate. */
  readonly rate: number;
  /** DURATION: how long constant_rate runs, and how long ramping_vus holds its peak. */
  readonly duration: string;
  /** PRE_VUS, MAX_VUS: VUs constant_rate starts with and may grow to. */
  readonly preAllocatedVus: number;
  readonly maxVus: number;
  /** VUS: peak of ramping_vus; RAMP_UP, RAMP_DOWN: its ramps. */
  readonly vus: number;
  readonly rampUp: string;
  readonly rampDown: string;
  /** P95_MS, P99_MS: latency thresholds in ms. */
  readonly p95Ms: number;
  readonly p99Ms: number;
  /** MAX_ERROR_RATE: the share of failed requests (and of failed checks) the run stays under (> 0). */
  readonly maxErrorRate: number;
}

type Env = Readonly<Record<string, string | undefined>>;

const DEFAULT_MODEL: Record<ScriptName, string> = { 'http-classify': 'shapes-mobilenetv3', 'http-zero-shot': 'miniclip-shapes', 'grpc-classify': 'shapes-mobilenetv3' };
const DEFAULT_TOP_K: Record<ScriptName, number> = { 'http-classify': 5, 'http-zero-shot': 3, 'grpc-classify': 5 };
/** Time a VU gets to finish its request when a scenario ends, in seconds. */
const GRACEFUL_STOP_SECONDS = 10;

function text(env: Env, name: string, fallback: string): string {
  const v = env[name];
  return v === undefined || v === '' ? fallback : v;
}

function number(env: Env, name: string, fallback: number, check: { integer?: boolean; min: number; max?: number }): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  const ok = Number.isFinite(n) && n >= check.min && (check.max === undefined || n <= check.max) && (!check.integer || Number.isInteger(n));
  if (!ok) throw new Error(`${name}=${JSON.stringify(raw)}: expected ${check.integer ? 'an integer' : 'a number'} >= ${check.min}${check.max === undefined ? '' : ` and <= ${check.max}`}`);
  return n;
}

function flag(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new Error(`${name}=${JSON.stringify(raw)}: expected true or false`);
}

/** A k6 duration ("90s", "1m30s", "500ms"), checked; returns it unchanged. */
function duration(env: Env, name: string, fallback: string): string {
  const v = text(env, name, fallback);
  if (!(durationSeconds(v) > 0)) throw new Error(`${name}=${JSON.stringify(v)}: expected a positive k6 duration such as 30s, 2m or 1m30s`);
  return v;
}

/** Seconds in a k6 duration string; NaN when it is not one. */
export function durationSeconds(value: string): number {
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(value)) return Number.NaN;
  const unit: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0;
  for (let m = part.exec(value); m !== null; m = part.exec(value)) total += Number(m[1]) * unit[m[2]!]!;
  return total;
}

/** Every setting of `script` from `env`, defaults filled in; throws on a bad value. */
export function readSettings(script: ScriptName, env: Env): Settings {
  if (!SCRIPTS.includes(script)) throw new Error(`unknown script ${JSON.stringify(script)}; scripts: ${SCRIPTS.join(', ')}`);
  const scenario = text(env, 'SCENARIO', 'constant_rate');
  if (scenario !== 'all' && !(SCENARIOS as readonly string[]).includes(scenario)) {
    throw new Error(`SCENARIO=${JSON.stringify(scenario)}: expected one of ${[...SCENARIOS, 'all'].join(', ')}`);
  }
  const httpUrl = text(env, 'GATEWAY_HTTP_URL', 'http://127.0.0.1:8080');
  if (!/^https?:\/\/[^/\s]+/.test(httpUrl)) throw new Error(`GATEWAY_HTTP_URL=${JSON.stringify(httpUrl)}: expected http://host:port or https://host:port`);
  const grpcAddr = text(env, 'GATEWAY_GRPC_ADDR', '127.0.0.1:50051');
  if (!/^[^\s/]+:\d+$/.test(grpcAddr)) throw new Error(`GATEWAY_GRPC_ADDR=${JSON.stringify(grpcAddr)}: expected host:port (no scheme)`);
  const rate = number(env, 'RATE', 20, { min: 0.01 });
  const preAllocatedVus = number(env, 'PRE_VUS', Math.max(4, Math.ceil(rate / 4)), { integer: true, min: 1 });
  const maxVus = number(env, 'MAX_VUS', Math.max(preAllocatedVus, Math.ceil(rate * 2), 50), { integer: true, min: preAllocatedVus });
  const p95Ms = number(env, 'P95_MS', 500, { min: 1 });
  const labels = text(env, 'LABELS', '')
    .split(',')
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  return {
    script,
    httpUrl,
    grpcAddr,
    grpcTls: flag(env, 'GRPC_TLS', false),
    protoDir: text(env, 'PROTO_DIR', DEFAULT_PROTO_DIR),
    model: text(env, 'MODEL', DEFAULT_MODEL[script]),
    version: text(env, 'VERSION', ''),
    topK: number(env, 'TOP_K', DEFAULT_TOP_K[script], { integer: true, min: script === 'http-zero-shot' ? 0 : 1 }),
    labels,
    template: text(env, 'TEMPLATE', ''),
    expectClass: flag(env, 'EXPECT_CLASS', true),
    apiKey: text(env, 'API_KEY', ''),
    requestTimeoutMs: number(env, 'REQUEST_TIMEOUT_MS', 0, { integer: true, min: 0 }),
    scenario: scenario as Settings['scenario'],
    rate,
    duration: duration(env, 'DURATION', '1m'),
    preAllocatedVus,
    maxVus,
    vus: number(env, 'VUS', 16, { integer: true, min: 1 }),
    rampUp: duration(env, 'RAMP_UP', '30s'),
    rampDown: duration(env, 'RAMP_DOWN', '10s'),
    p95Ms,
    p99Ms: number(env, 'P99_MS', Math.max(1000, p95Ms), { min: p95Ms }),
    maxErrorRate: number(env, 'MAX_ERROR_RATE', 0.01, { min: 0.000001, max: 1 }),
  };
}

/** The two executors' settings, shaped as k6's scenario options (a structural subset of k6's `Options`). */
export interface ConstantRateScenario {
  executor: 'constant-arrival-rate';
  rate: number;
  timeUnit: string;
  duration: string;
  preAllocatedVUs: number;
  maxVUs: number;
  gracefulStop: string;
  startTime?: string;
  tags: Record<string, string>;
}

export interface RampingVusScenario {
  executor: 'ramping-vus';
  startVUs: number;
  stages: { duration: string; target: number }[];
  gracefulRampDown: string;
  gracefulStop: string;
  startTime?: string;
  tags: Record<string, string>;
}

export interface LoadOptions {
  scenarios: { constant_rate?: ConstantRateScenario; ramping_vus?: RampingVusScenario };
  thresholds: Record<string, string[]>;
  /** Trend statistics in the end-of-test summary (p99 is not among k6's defaults). */
  summaryTrendStats: string[];
}

/** The latency metric of each script's requests (k6 built-ins). */
export function latencyMetric(script: ScriptName): string {
  return script === 'grpc-classify' ? 'grpc_req_duration' : 'http_req_duration';
}

/** k6 `options` of `script`: the selected scenario(s) and thresholds on errors and p95/p99 latency. */
export function loadOptions(script: ScriptName, env: Env): LoadOptions {
  const s = readSettings(script, env);
  const tags = { script };
  const constantRate: ConstantRateScenario = {
    executor: 'constant-arrival-rate',
    rate: s.rate,
    timeUnit: '1s',
    duration: s.duration,
    preAllocatedVUs: s.preAllocatedVus,
    maxVUs: s.maxVus,
    gracefulStop: `${GRACEFUL_STOP_SECONDS}s`,
    tags,
  };
  const rampingVus: RampingVusScenario = {
    executor: 'ramping-vus',
    startVUs: 0,
    stages: [
      { duration: s.rampUp, target: s.vus },
      { duration: s.duration, target: s.vus },
      { duration: s.rampDown, target: 0 },
    ],
    gracefulRampDown: `${GRACEFUL_STOP_SECONDS}s`,
    gracefulStop: `${GRACEFUL_STOP_SECONDS}s`,
    tags,
  };
  const scenarios: LoadOptions['scenarios'] =
    s.scenario === 'constant_rate'
      ? { constant_rate: constantRate }
      : s.scenario === 'ramping_vus'
        ? { ramping_vus: rampingVus }
        : { constant_rate: constantRate, ramping_vus: { ...rampingVus, startTime: `${durationSeconds(s.duration) + GRACEFUL_STOP_SECONDS}s` } };
  const latency = [`p(95)<${s.p95Ms}`, `p(99)<${s.p99Ms}`];
  const thresholds: Record<string, string[]> = {
    [ERROR_RATE_METRIC]: [`rate<${s.maxErrorRate}`],
    checks: [`rate>${Number((1 - s.maxErrorRate).toFixed(6))}`],
    [latencyMetric(script)]: latency,
  };
  if (script !== 'grpc-classify') thresholds['http_req_failed'] = [`rate<${s.maxErrorRate}`];
  return { scenarios, thresholds, summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'] };
}
