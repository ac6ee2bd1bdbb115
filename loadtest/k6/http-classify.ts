// k6 load test of HTTP POST /v1/classify: the fixture images (PNG and JPEG) sent as raw bodies with
// their own content type, round-robin; each answer is checked (status, model, labels, top-1 class).
//   k6 run -e GATEWAY_HTTP_URL=http://127.0.0.1:8080 loadtest/k6/http-classify.ts
//   k6 run -e GATEWAY_SCENARIO=ramping_vus -e GATEWAY_VUS=32 -e GATEWAY_MODEL=shapes-teacher loadtest/k6/http-classify.ts
// Settings (environment): lib/options.ts and loadtest/k6/README.md.
import { check, fail } from 'k6';
import exec from 'k6/execution';
import http from 'k6/http';
import { Counter, Rate } from 'k6/metrics';
import type { Options } from 'k6/options';
import { FAILURE_REASONS, type FailureReason, bodyExcerpt, classifyChecks, failureMetric, httpFailureReason, modelProblem, parseAnswer, unreachableMessage } from './lib/answers.ts';
import { ERROR_RATE_METRIC, loadOptions, readSettings } from './lib/options.ts';
import { classifyHttpRequest, modelHttpRequest, parseFixtureIndex } from './lib/requests.ts';

export const options: Options = loadOptions('http-classify', __ENV);

const settings = readSettings('http-classify', __ENV);
const call = { apiKey: settings.apiKey, requestTimeoutMs: settings.requestTimeoutMs };
const fixtures = parseFixtureIndex(open(import.meta.resolve('./fixtures/index.json')));
const items = fixtures.images.map((image) => ({
  request: classifyHttpRequest(settings.httpUrl, { bytes: open(import.meta.resolve(`./fixtures/${image.file}`), 'b'), contentType: image.contentType }, settings, call),
  checks: classifyChecks({ model: settings.model, topK: settings.topK, top1: settings.expectClass ? image.className : undefined }),
}));
const errors = new Rate(ERROR_RATE_METRIC);
/** One counter per failure reason (gateway error code, NO_ANSWER, ...): the summary lists those that counted. */
const failed = Object.fromEntries(FAILURE_REASONS.map((reason) => [reason, new Counter(failureMetric(reason))])) as Record<FailureReason, Counter>;
/** The client waits a second longer than the gateway's deadline, so a 504 is seen as one. */
const timeout = settings.requestTimeoutMs > 0 ? `${settings.requestTimeoutMs + 1000}ms` : '60s';

/** Refuses to start unless the gateway answers and the model (and GATEWAY_MODEL_VERSION, if set) is served, READY, and an image classifier. */
export function setup(): void {
  const request = modelHttpRequest(settings.httpUrl, settings.model, call);
  const res = http.get(request.url, { headers: request.headers, tags: { name: 'setup' } });
  if (res.status === 0) fail(unreachableMessage(settings.httpUrl, 'GATEWAY_HTTP_URL', `${res.error} (k6 error code ${res.error_code})`));
  const problem = res.status === 200 ? modelProblem(parseAnswer(res.body), { name: settings.model, kind: 'image-classifier', version: settings.version }) : `GET ${request.url} answered ${res.status}: ${bodyExcerpt(res.body)}`;
  if (problem !== undefined) fail(problem);
}

export default function (): void {
  const item = items[exec.scenario.iterationInTest % items.length]!;
  const { url, body, headers } = item.request;
  const res = http.post(url, body, { headers, timeout, tags: { name: 'POST /v1/classify' } });
  const statusOk = check(res, { 'status is 200': (r) => r.status === 200 });
  const answerOk = check(parseAnswer(res.body), item.checks);
  errors.add(!(statusOk && answerOk));
  const reason = httpFailureReason({ status: res.status, body: res.body, headers: res.headers }, statusOk && answerOk);
  if (reason !== undefined) failed[reason].add(1, { status: String(res.status) });
}
