// k6 load test of HTTP POST /v1/zero-shot: JSON bodies with a base64 fixture image and the label set
// (fixtures/index.json, or GATEWAY_LABELS), round-robin over the fixtures; each answer is checked (status,
// model, only requested labels best first, top-1 is the fixture's class).
//   k6 run -e GATEWAY_HTTP_URL=http://127.0.0.1:8080 loadtest/k6/http-zero-shot.ts
//   k6 run -e GATEWAY_SCENARIO=all -e GATEWAY_RATE=30 -e GATEWAY_TEMPLATE='a photo of a {}.' loadtest/k6/http-zero-shot.ts
// Settings (environment): lib/options.ts and loadtest/k6/README.md.
import { check, fail } from 'k6';
import exec from 'k6/execution';
import http from 'k6/http';
import { Counter, Rate } from 'k6/metrics';
import type { Options } from 'k6/options';
import { FAILURE_REASONS, type FailureReason, bodyExcerpt, failureMetric, httpFailureReason, modelProblem, parseAnswer, unreachableMessage, zeroShotChecks } from './lib/answers.ts';
import { ERROR_RATE_METRIC, loadOptions, readSettings } from './lib/options.ts';
import { modelHttpRequest, parseFixtureIndex, zeroShotHttpRequest, zeroShotLabel } from './lib/requests.ts';

export const options: Options = loadOptions('http-zero-shot', __ENV);

const settings = readSettings('http-zero-shot', __ENV);
const call = { apiKey: settings.apiKey, requestTimeoutMs: settings.requestTimeoutMs };
const fixtures = parseFixtureIndex(open(import.meta.resolve('./fixtures/index.json')));
const labels = settings.labels.length > 0 ? settings.labels : fixtures.zeroShotLabels;
// Bodies are built once per VU in the init context: base64 and JSON cost nothing during the test.
const items = fixtures.images.map((image) => {
  const expected = zeroShotLabel(image.className);
  return {
    request: zeroShotHttpRequest(settings.httpUrl, open(import.meta.resolve(`./fixtures/${image.file}`), 'b'), { ...settings, labels }, call),
    checks: zeroShotChecks({ model: settings.model, labels, topK: settings.topK, top1: settings.expectClass && labels.includes(expected) ? expected : undefined }),
  };
});
const errors = new Rate(ERROR_RATE_METRIC);
/** One counter per failure reason (gateway error code, NO_ANSWER, ...): the summary lists those that counted. */
const failed = Object.fromEntries(FAILURE_REASONS.map((reason) => [reason, new Counter(failureMetric(reason))])) as Record<FailureReason, Counter>;
/** The client waits a second longer than the gateway's deadline, so a 504 is seen as one. */
const timeout = settings.requestTimeoutMs > 0 ? `${settings.requestTimeoutMs + 1000}ms` : '60s';

/** Refuses to start unless the gateway answers and the model (and GATEWAY_MODEL_VERSION, if set) is served, READY, and a clip model. */
export function setup(): void {
  const request = modelHttpRequest(settings.httpUrl, settings.model, call);
  const res = http.get(request.url, { headers: request.headers, tags: { name: 'setup' } });
  if (res.status === 0) fail(unreachableMessage(settings.httpUrl, 'GATEWAY_HTTP_URL', `${res.error} (k6 error code ${res.error_code})`));
  const problem = res.status === 200 ? modelProblem(parseAnswer(res.body), { name: settings.model, kind: 'clip', version: settings.version }) : `GET ${request.url} answered ${res.status}: ${bodyExcerpt(res.body)}`;
  if (problem !== undefined) fail(problem);
}

export default function (): void {
  const item = items[exec.scenario.iterationInTest % items.length]!;
  const { url, body, headers } = item.request;
  const res = http.post(url, body, { headers, timeout, tags: { name: 'POST /v1/zero-shot' } });
  const statusOk = check(res, { 'status is 200': (r) => r.status === 200 });
  const answerOk = check(parseAnswer(res.body), item.checks);
  errors.add(!(statusOk && answerOk));
  const reason = httpFailureReason({ status: res.status, body: res.body, headers: res.headers }, statusOk && answerOk);
  if (reason !== undefined) failed[reason].add(1, { status: String(res.status) });
}
