// Settings and k6 `options` of the load-test scripts, read from the environment (`k6 run -e NAME=value`
// or the shell), without importing k6: the scripts export `options = loadOptions(<script>, __ENV)`
// and test/deploy/k6.test.ts checks the same function under Node. Every bad value throws an error
// that names the variable and what it accepts. k6 hands the whole shell environment to the script,
// so every name carries the GATEWAY_ prefix: a VERSION or MODEL exported for something else (CI)
// must not steer the load test.

/** The scripts in loadtest/k6/, by file name without `.ts`. */
export const SCRIPTS = ['http-classify', 'http-zero-shot', 'grpc-classify'] as const;
export type ScriptName = (typeof SCRIPTS)[number];

/** Scenario names; GATEWAY_SCENARIO picks one of them or `all` (the ramp starts when the constant rate has ended). */
export const SCENARIOS = ['constant_rate', 'ramping_vus'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/** Custom k6 Rate: the share of requests that failed or whose answer failed a check. */
export const ERROR_RATE_METRIC = 'gateway_errors';

/** Every environment variable the scripts read (none collides with the gateway's own GATEWAY_* settings). */
export const SETTING_NAMES = [
  'GATEWAY_HTTP_URL',
  'GATEWAY_GRPC_ADDR',
  'GATEWAY_GRPC_TLS',
  'GATEWAY_PROTO_DIR',
  'GATEWAY_MODEL',
  'GATEWAY_MODEL_VERSION',
  'GATEWAY_TOP_K',
  'GATEWAY_LABELS',
  'GATEWAY_TEMPLATE',
  'GATEWAY_EXPECT_CLASS',
  'GATEWAY_API_KEY',
  'GATEWAY_REQUEST_TIMEOUT_MS',
  'GATEWAY_SCENARIO',
  'GATEWAY_RATE',
  'GATEWAY_DURATION',
  'GATEWAY_PRE_VUS',
  'GATEWAY_MAX_VUS',
  'GATEWAY_VUS',
  'GATEWAY_RAMP_UP',
  'GATEWAY_RAMP_DOWN',
  'GATEWAY_P95_MS',
  'GATEWAY_P99_MS',
  'GATEWAY_MAX_ERROR_RATE',
] as const;

/** Where the proto root is, relative to the script's folder (k6's gRPC `load` resolves from the entry script's folder). */
export const DEFAULT_PROTO_DIR = '../../proto';

/** Everything a script reads from its environment, resolved and checked. */
export interface Settings {
  readonly script: ScriptName;
  /** GATEWAY_HTTP_URL: base URL of the HTTP API. */
  readonly httpUrl: string;
  /** GATEWAY_GRPC_ADDR: host:port of the gRPC API. */
  readonly grpcAddr: string;
  /** GATEWAY_GRPC_TLS=true: gRPC over TLS instead of plaintext. */
  readonly grpcTls: boolean;
  /** GATEWAY_PROTO_DIR: the proto root (holding gateway/v1/gateway.proto). */
  readonly protoDir: string;
  /** GATEWAY_MODEL: the model to load. */
  readonly model: string;
  /** GATEWAY_MODEL_VERSION: empty = the highest ready version. */
  readonly version: string;
  /** GATEWAY_TOP_K: labels asked for; 0 (zero-shot only) = every label. */
  readonly topK: number;
  /** GATEWAY_LABELS (zero-shot, comma-separated): empty = the fixtures' label set. */
  readonly labels: readonly string[];
  /** GATEWAY_TEMPLATE (zero-shot): empty = the model's templates. */
  readonly template: string;
  /** GATEWAY_EXPECT_CLASS=false for a model that does not know the shapes classes: then top-1 is not checked. */
  readonly expectClass: boolean;
  /** GATEWAY_API_KEY: sent as a bearer token; empty = none. */
  readonly apiKey: string;
  /** GATEWAY_REQUEST_TIMEOUT_MS: the request's deadline at the gateway (and the client's own timeout); 0 = the model's default. */
  readonly requestTimeoutMs: number;
  /** GATEWAY_SCENARIO: constant_rate, ramping_vus or all. */
  readonly scenario: ScenarioName | 'all';
  /** GATEWAY_RATE: iterations (one request each) started per second by constant_rate. */
  readonly rate: number;
  /** GATEWAY_DURATION: how long constant_rate runs, and how long ramping_vus holds its peak. */
  readonly duration: string;
  /** GATEWAY_PRE_VUS, GATEWAY_MAX_VUS: VUs constant_rate starts with and may grow to. */
  readonly preAllocatedVus: number;
  readonly maxVus: number;
  /** GATEWAY_VUS: peak of ramping_vus; GATEWAY_RAMP_UP, GATEWAY_RAMP_DOWN: its ramps. */
  readonly vus: number;
  readonly rampUp: string;
  readonly rampDown: string;
  /** GATEWAY_P95_MS, GATEWAY_P99_MS: latency thresholds in ms. */
  readonly p95Ms: number;
  readonly p99Ms: number;
  /** GATEWAY_MAX_ERROR_RATE: the share of failed requests (and of failed checks) the run stays under (> 0). */
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
  const scenario = text(env, 'GATEWAY_SCENARIO', 'constant_rate');
  if (scenario !== 'all' && !(SCENARIOS as readonly string[]).includes(scenario)) {
    throw new Error(`GATEWAY_SCENARIO=${JSON.stringify(scenario)}: expected one of ${[...SCENARIOS, 'all'].join(', ')}`);
  }
  const httpUrl = text(env, 'GATEWAY_HTTP_URL', 'http://127.0.0.1:8080');
  if (!/^https?:\/\/[^/\s]+/.test(httpUrl)) throw new Error(`GATEWAY_HTTP_URL=${JSON.stringify(httpUrl)}: expected http://host:port or https://host:port`);
  const grpcAddr = text(env, 'GATEWAY_GRPC_ADDR', '127.0.0.1:50051');
  if (!/^[^\s/]+:\d+$/.test(grpcAddr)) throw new Error(`GATEWAY_GRPC_ADDR=${JSON.stringify(grpcAddr)}: expected host:port (no scheme)`);
  const rate = number(env, 'GATEWAY_RATE', 20, { min: 0.01 });
  const preAllocatedVus = number(env, 'GATEWAY_PRE_VUS', Math.max(4, Math.ceil(rate / 4)), { integer: true, min: 1 });
  const maxVus = number(env, 'GATEWAY_MAX_VUS', Math.max(preAllocatedVus, Math.ceil(rate * 2), 50), { integer: true, min: preAllocatedVus });
  const p95Ms = number(env, 'GATEWAY_P95_MS', 500, { min: 1 });
  const labels = text(env, 'GATEWAY_LABELS', '')
    .split(',')
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  return {
    script,
    httpUrl,
    grpcAddr,
    grpcTls: flag(env, 'GATEWAY_GRPC_TLS', false),
    protoDir: text(env, 'GATEWAY_PROTO_DIR', DEFAULT_PROTO_DIR),
    model: text(env, 'GATEWAY_MODEL', DEFAULT_MODEL[script]),
    version: text(env, 'GATEWAY_MODEL_VERSION', ''),
    topK: number(env, 'GATEWAY_TOP_K', DEFAULT_TOP_K[script], { integer: true, min: script === 'http-zero-shot' ? 0 : 1 }),
    labels,
    template: text(env, 'GATEWAY_TEMPLATE', ''),
    expectClass: flag(env, 'GATEWAY_EXPECT_CLASS', true),
    apiKey: text(env, 'GATEWAY_API_KEY', ''),
    requestTimeoutMs: number(env, 'GATEWAY_REQUEST_TIMEOUT_MS', 0, { integer: true, min: 0 }),
    scenario: scenario as Settings['scenario'],
    rate,
    duration: duration(env, 'GATEWAY_DURATION', '1m'),
    preAllocatedVus,
    maxVus,
    vus: number(env, 'GATEWAY_VUS', 16, { integer: true, min: 1 }),
    rampUp: duration(env, 'GATEWAY_RAMP_UP', '30s'),
    rampDown: duration(env, 'GATEWAY_RAMP_DOWN', '10s'),
    p95Ms,
    p99Ms: number(env, 'GATEWAY_P99_MS', Math.max(1000, p95Ms), { min: p95Ms }),
    maxErrorRate: number(env, 'GATEWAY_MAX_ERROR_RATE', 0.01, { min: 0.000001, max: 1 }),
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

/**
 * The latency metric of one scenario's successful requests: k6 tags HTTP samples with
 * `expected_response` (a 2xx/3xx status) and gRPC samples with `status` (0 = OK). Failed requests
 * are left out, so a run of fast 404s cannot pass the latency thresholds.
 */
export function scenarioLatencyMetric(script: ScriptName, scenario: ScenarioName): string {
  return `${latencyMetric(script)}{scenario:${scenario},${script === 'grpc-classify' ? 'status:0' : 'expected_response:true'}}`;
}

/** k6 `options` of `script`: the selected scenario(s); thresholds on errors, p95/p99 latency per scenario and dropped iterations. */
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
  const thresholds: Record<string, string[]> = {
    [ERROR_RATE_METRIC]: [`rate<${s.maxErrorRate}`],
    checks: [`rate>${Number((1 - s.maxErrorRate).toFixed(6))}`],
  };
  if (script !== 'grpc-classify') thresholds['http_req_failed'] = [`rate<${s.maxErrorRate}`];
  for (const name of SCENARIOS) {
    if (scenarios[name] === undefined) continue;
    thresholds[scenarioLatencyMetric(script, name)] = [`p(95)<${s.p95Ms}`, `p(99)<${s.p99Ms}`];
  }
  if (scenarios.constant_rate !== undefined) {
    // An open model: iterations k6 could not start (every VU busy) are load the gateway never saw.
    // As many may be dropped as requests may fail: GATEWAY_MAX_ERROR_RATE of the planned ones.
    thresholds['dropped_iterations{scenario:constant_rate}'] = [`count<=${maxDroppedIterations(s)}`];
  }
  return { scenarios, thresholds, summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'] };
}

/** Iterations constant_rate may drop: GATEWAY_MAX_ERROR_RATE of the GATEWAY_RATE x GATEWAY_DURATION it plans. */
export function maxDroppedIterations(s: Pick<Settings, 'rate' | 'duration' | 'maxErrorRate'>): number {
  return Math.floor(s.rate * durationSeconds(s.duration) * s.maxErrorRate);
}
