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

/** Why `model` (GET /v1/models/:name, or an entry of ListModels) cannot take the load; undefined when it is READY and of `kind`. */
export function modelProblem(model: Answer, expect: { name: string; kind: string }): string | undefined {
  if (model === undefined) return `model "${expect.name}" is not served here`;
  const field = (name: string): string => JSON.stringify(model[name] ?? null);
  if (model['kind'] !== expect.kind) return `model "${expect.name}" is of kind ${field('kind')}; this script needs a ${expect.kind} model`;
  if (model['state'] !== 'READY') return `model "${expect.name}" is ${field('state')}, not READY (reason: ${field('reason')})`;
  return undefined;
}

/** The start of a response body for an error message (binary bodies are left out). */
export function bodyExcerpt(body: unknown): string {
  return typeof body === 'string' ? body.slice(0, 300) : '';
}
