// What the k6 scripts check in the gateway's answers, without k6: named predicates that k6's
// `check(answer, checks)` records, and that test/deploy/k6.test.ts runs on a real gateway's answers.
// Classify answers look alike over HTTP (snake_case) and gRPC (k6 gives protojson camelCase):
// only `model` and `labels[].label/score` are read, which both spell the same way.

/** A parsed answer body, or undefined when there was none (failed request, not JSON). */
export type Answer = Record<string, unknown> | undefined;

/** Check name -> predicate, the shape k6's `check()` takes. */
export type AnswerChecks = Record<string, (answer: Answer) => boolean>;

/** A JSON object from a response body (a string) or an already-decoded message; anything else is undefined. */
export function parseAnswer(body: unknown): Answer {
  let value: unknown = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

interface Scored {
  readonly label: string;
  readonly score: number;
}

/** `labels` of an answer when every entry has a string label and a finite score; else undefined. */
function labelsOf(answer: Answer): Scored[] | undefined {
  const labels = answer?.['labels'];
  if (!Array.isArray(labels)) return undefined;
  const ok = labels.every((l: unknown) => {
    const e = l as Partial<Scored> | null;
    return e !== null && typeof e === 'object' && typeof e.label === 'string' && e.label.length > 0 && typeof e.score === 'number' && Number.isFinite(e.score);
  });
  return ok ? (labels as Scored[]) : undefined;
}

function bestFirst(labels: readonly Scored[]): boolean {
  return labels.every((l, i) => i === 0 || labels[i - 1]!.score >= l.score);
}

/** Checks of a classify answer: the model asked for, 1..top_k labels best first, and (when known) top-1 is the fixture's class. */
export function classifyChecks(expect: { model: string; topK: number; top1: string | undefined }): AnswerChecks {
  const checks: AnswerChecks = {
    'answer names the model': (a) => a?.['model'] === expect.model,
    'labels present, at most top_k, best first': (a) => {
      const labels = labelsOf(a);
      return labels !== undefined && labels.length >= 1 && labels.length <= expect.topK && bestFirst(labels);
    },
  };
  if (expect.top1 !== undefined) {
    const top1 = expect.top1;
    checks['top-1 is the fixture class'] = (a) => labelsOf(a)?.[0]?.label === top1;
  }
  return checks;
}

/** Checks of a zero-shot answer: the model, only requested labels (each once, best first, at most top_k), and top-1. */
export function zeroShotChecks(expect: { model: string; labels: readonly string[]; topK: number; top1: string | undefined }): AnswerChecks {
  const requested = new Set(expect.labels);
  const most = expect.topK > 0 ? Math.min(expect.topK, requested.size) : requested.size;
  const checks: AnswerChecks = {
    'answer names the model': (a) => a?.['model'] === expect.model,
    'labels are requested ones, each once, best first': (a) => {
      const labels = labelsOf(a);
      if (labels === undefined || labels.length < 1 || labels.length > most || !bestFirst(labels)) return false;
      return labels.every((l) => requested.has(l.label)) && new Set(labels.map((l) => l.label)).size === labels.length;
    },
  };
  if (expect.top1 !== undefined) {
    const top1 = expect.top1;
    checks['top-1 is the fixture class'] = (a) => labelsOf(a)?.[0]?.label === top1;
  }
  return checks;
}

/** The entry of `name` in a ListModels answer (`{models: [...]}`), or undefined. */
export function findModel(list: Answer, name: string): Answer {
  const models = list?.['models'];
  if (!Array.isArray(models)) return undefined;
  return parseAnswer(models.find((m: unknown) => parseAnswer(m)?.['name'] === name));
}

/** Why `model` (GET /v1/models/:name, or an entry of ListModels) cannot take the load; undefined when it is READY, of `kind`, and has `version` READY (empty = the model's default). */
export function modelProblem(model: Answer, expect: { name: string; kind: string; version?: string }): string | undefined {
  if (model === undefined) return `model "${expect.name}" is not served here`;
  const field = (name: string): string => JSON.stringify(model[name] ?? null);
  if (model['kind'] !== expect.kind) return `model "${expect.name}" is of kind ${field('kind')}; this script needs a ${expect.kind} model`;
  if (!expect.version) {
    if (model['state'] !== 'READY') return `model "${expect.name}" is ${field('state')}, not READY (reason: ${field('reason')})`;
    return undefined;
  }
  const versions = (Array.isArray(model['versions']) ? model['versions'] : []).map((v: unknown) => parseAnswer(v)).filter((v): v is Record<string, unknown> => v !== undefined);
  const version = versions.find((v) => v['version'] === expect.version);
  if (version === undefined) return `model "${expect.name}" has no version "${expect.version}" (GATEWAY_MODEL_VERSION); versions: ${versions.map((v) => String(v['version'])).join(', ') || 'none'}`;
  if (version['state'] !== 'READY') return `version "${expect.version}" of model "${expect.name}" is ${JSON.stringify(version['state'] ?? null)}, not READY (reason: ${JSON.stringify(version['reason'] ?? null)})`;
  return undefined;
}

/**
 * The gateway's error codes (src/errors.ts; test/deploy/k6.test.ts keeps the two lists equal). A
 * failed request is counted under its code, so the end-of-test summary says why requests failed.
 */
export const GATEWAY_ERROR_CODES = [
  'INVALID_ARGUMENT',
  'INVALID_IMAGE',
  'IMAGE_TOO_LARGE',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'MODEL_NOT_FOUND',
  'VERSION_NOT_FOUND',
  'NOT_FOUND',
  'MODEL_UNAVAILABLE',
  'SHUTTING_DOWN',
  'QUEUE_FULL',
  'RATE_LIMITED',
  'UNAUTHENTICATED',
  'PERMISSION_DENIED',
  'DEADLINE_EXCEEDED',
  'CANCELLED',
  'INFERENCE_FAILED',
  'INTERNAL',
] as const;

/**
 * Why a request failed: a gateway error code; NO_ANSWER (no response: connection refused or reset,
 * the client's own timeout); WRONG_ANSWER (a success whose answer failed a check); OTHER_STATUS (an
 * error status without a gateway code, e.g. a proxy's 502).
 */
export const FAILURE_REASONS = [...GATEWAY_ERROR_CODES, 'NO_ANSWER', 'WRONG_ANSWER', 'OTHER_STATUS'] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

/** The k6 Counter of one failure reason, e.g. gateway_failed_queue_full (k6 lists only counters that counted). */
export function failureMetric(reason: FailureReason): string {
  return `gateway_failed_${reason.toLowerCase()}`;
}

function gatewayCode(value: unknown): FailureReason | undefined {
  const code = Array.isArray(value) ? (value as unknown[])[0] : value;
  return typeof code === 'string' && (GATEWAY_ERROR_CODES as readonly string[]).includes(code) ? (code as FailureReason) : undefined;
}

/** The value of a header, whatever its case (k6 canonicalizes names: X-Error-Code). */
function header(headers: object | undefined, name: string): unknown {
  const key = Object.keys(headers ?? {}).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : (headers as Record<string, unknown>)[key];
}

/** Why an HTTP request failed (undefined: it did not): `{"error": {"code"}}` of /v1, `x-error-code` of /v2. */
export function httpFailureReason(res: { status: number; body: unknown; headers?: object }, answerOk: boolean): FailureReason | undefined {
  if (res.status === 0) return 'NO_ANSWER';
  if (res.status >= 200 && res.status < 300) return answerOk ? undefined : 'WRONG_ANSWER';
  const error = parseAnswer(res.body)?.['error'];
  const code = typeof error === 'object' && error !== null ? (error as Record<string, unknown>)['code'] : undefined;
  return gatewayCode(code) ?? gatewayCode(header(res.headers, 'x-error-code')) ?? 'OTHER_STATUS';
}

/** gRPC status codes the scripts tell apart. */
const GRPC_OK = 0;
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_UNAVAILABLE = 14;

/** Why a gRPC call failed (undefined: it did not), from its status and the gateway's `x-error-code` metadata. */
export function grpcFailureReason(res: { status: number; headers?: object; trailers?: object }, answerOk: boolean): FailureReason | undefined {
  if (res.status === GRPC_OK) return answerOk ? undefined : 'WRONG_ANSWER';
  const code = gatewayCode(header(res.trailers, 'x-error-code')) ?? gatewayCode(header(res.headers, 'x-error-code'));
  if (code !== undefined) return code;
  // Without a gateway code these come from the client: no connection, or no answer before the deadline.
  return res.status === GRPC_UNAVAILABLE || res.status === GRPC_DEADLINE_EXCEEDED ? 'NO_ANSWER' : 'OTHER_STATUS';
}

/** setup()'s message when the gateway cannot be reached: where it looked (and the variable that sets it), and why. */
export function unreachableMessage(address: string, variable: string, error: string): string {
  return `cannot reach the gateway at ${address} (${variable}): ${error || 'no answer'}`;
}

/** The start of a response body for an error message (binary bodies are left out). */
export function bodyExcerpt(body: unknown): string {
  return typeof body === 'string' ? body.slice(0, 300) : '';
}
