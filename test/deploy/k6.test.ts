// The k6 load-test scripts in loadtest/k6/ cannot be run here (k6 is a Go binary this machine does
// not have), so this checks everything around them that can be: they type-check against @types/k6
// alone (no Node types leaking in); each exports `options = loadOptions(<its name>, __ENV)` and that
// function gives both scenarios and thresholds on errors and p95/p99 latency; the fixtures decode;
// the gRPC script loads the project's proto from where k6 will look. Then, end to end, the very
// requests the scripts build (lib/requests.ts) go to a real gateway over HTTP and gRPC, and the
// checks the scripts apply (lib/answers.ts) pass on the real answers, and fail on wrong ones.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import sharp from 'sharp';
import ts from 'typescript';
import {
  type Answer,
  type AnswerChecks,
  FAILURE_REASONS,
  GATEWAY_ERROR_CODES,
  classifyChecks,
  failureMetric,
  findModel,
  grpcFailureReason,
  httpFailureReason,
  modelProblem,
  parseAnswer,
  unreachableMessage,
  zeroShotChecks,
} from '../../loadtest/k6/lib/answers.js';
import {
  DEFAULT_PROTO_DIR,
  ERROR_RATE_METRIC,
  SCRIPTS,
  SETTING_NAMES,
  type ScriptName,
  durationSeconds,
  latencyMetric,
  loadOptions,
  maxDroppedIterations,
  readSettings,
  scenarioLatencyMetric,
} from '../../loadtest/k6/lib/options.js';
import {
  type FixtureIndex,
  GATEWAY_PROTO,
  GRPC_CLASSIFY,
  GRPC_LIST_MODELS,
  type HttpRequestSpec,
  base64,
  classifyGrpcMessage,
  classifyHttpRequest,
  grpcMetadata,
  modelHttpRequest,
  parseFixtureIndex,
  zeroShotHttpRequest,
  zeroShotLabel,
} from '../../loadtest/k6/lib/requests.js';
import { loadConfig } from '../../src/config.js';
import { ERRORS } from '../../src/errors.js';
import { loadGatewayProto, PROTO_PATH } from '../../src/server/grpc.js';
import { REPO_ROOT, type TestGateway, ZOO_MODELS, makeRepository, startTestGateway } from '../helpers/gateway.js';

const K6_DIR = join(REPO_ROOT, 'loadtest', 'k6');
const FIXTURES = join(K6_DIR, 'fixtures');
/** Fixtures are committed: each must stay small. */
const FIXTURE_MAX_BYTES = 8 * 1024;

const index: FixtureIndex = parseFixtureIndex(readFileSync(join(FIXTURES, 'index.json'), 'utf8'));
const scriptSource = (script: ScriptName): string => readFileSync(join(K6_DIR, `${script}.ts`), 'utf8');

/** A fixture's bytes as the ArrayBuffer k6's open(path, 'b') gives. */
function fixtureBytes(file: string): ArrayBuffer {
  return new Uint8Array(readFileSync(join(FIXTURES, file))).buffer;
}

/** Names of the checks that fail on `answer` (empty = all pass). */
function failing(checks: AnswerChecks, answer: Answer): string[] {
  return Object.entries(checks).flatMap(([name, predicate]) => (predicate(answer) ? [] : [name]));
}

async function send(request: HttpRequestSpec): Promise<{ status: number; text: string }> {
  const res = await fetch(request.url, { method: request.method, headers: request.headers, body: request.body });
  return { status: res.status, text: await res.text() };
}

/** A response the way k6 hands it over: status, body text, headers. */
async function fetchFull(request: HttpRequestSpec): Promise<{ status: number; body: string; headers: Record<string, string> }> {
  const res = await fetch(request.url, { method: request.method, headers: request.headers, body: request.body });
  return { status: res.status, body: await res.text(), headers: Object.fromEntries(res.headers) };
}

describe('k6 load-test scripts (loadtest/k6)', () => {
  it('type-check against @types/k6 alone with loadtest/k6/tsconfig.json, and the test command runs that check', () => {
    const tsc = spawnSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '--listFiles', '-p', join(K6_DIR, 'tsconfig.json')], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(tsc.status, 0, `tsc -p loadtest/k6/tsconfig.json failed:\n${tsc.stdout}${tsc.stderr}`);
    const files = tsc.stdout.split('\n').filter((l) => l.length > 0);
    for (const script of SCRIPTS) assert.ok(files.includes(join(K6_DIR, `${script}.ts`)), `${script}.ts is not type-checked`);
    assert.ok(files.some((f) => f.endsWith('node_modules/@types/k6/index.d.ts')), 'the k6 types are not used');
    const leaked = files.filter((f) => f.includes('/@types/node/') || /lib\.dom(\.|$)/.test(f) || f.endsWith('make-fixtures.ts'));
    assert.deepEqual(leaked, [], 'Node or DOM types (or the Node fixture maker) reach the k6 program');
    assert.match(readFileSync(join(REPO_ROOT, 'scripts', 'test.sh'), 'utf8'), /^npx tsc --noEmit -p loadtest\/k6\/tsconfig\.json$/m);
  });

  for (const script of SCRIPTS) {
    it(`${script}.ts exports options = loadOptions('${script}', __ENV), a default function and a setup()`, () => {
      const source = ts.createSourceFile(`${script}.ts`, scriptSource(script), ts.ScriptTarget.ES2020, true);
      const exported = (node: ts.Node): boolean => ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
      const options = source.statements
        .filter((s): s is ts.VariableStatement => ts.isVariableStatement(s) && exported(s))
        .flatMap((s) => [...s.declarationList.declarations])
        .find((d) => ts.isIdentifier(d.name) && d.name.text === 'options');
      assert.ok(options?.initializer && ts.isCallExpression(options.initializer), 'no `export const options = loadOptions(...)`');
      const call = options.initializer;
      assert.equal(call.expression.getText(source), 'loadOptions');
      assert.deepEqual(
        call.arguments.map((a) => a.getText(source)),
        [`'${script}'`, '__ENV'],
      );
      assert.ok(source.statements.some((s) => ts.isExportAssignment(s) || (ts.isFunctionDeclaration(s) && exported(s) && (ts.getModifiers(s) ?? []).some((m) => m.kind === ts.SyntaxKind.DefaultKeyword))), 'no default export');
      assert.ok(source.statements.some((s) => ts.isFunctionDeclaration(s) && exported(s) && s.name?.text === 'setup'), 'no setup()');
      // Fixtures are read in the init context, relative to the script file.
      assert.match(scriptSource(script), /open\(import\.meta\.resolve\('\.\/fixtures\/index\.json'\)\)/);
      assert.match(scriptSource(script), /open\(import\.meta\.resolve\(`\.\/fixtures\/\$\{image\.file\}`\), 'b'\)/);
    });

    it(`${script}: both scenarios, selectable by GATEWAY_SCENARIO, with thresholds on the error rate, dropped iterations and p95/p99 latency of each scenario's successful requests`, () => {
      const only = loadOptions(script, {});
      assert.deepEqual(Object.keys(only.scenarios), ['constant_rate'], 'the default is the constant arrival rate');
      const rampOnly = loadOptions(script, { GATEWAY_SCENARIO: 'ramping_vus' });
      assert.deepEqual(Object.keys(rampOnly.scenarios), ['ramping_vus']);
      // A closed model drops no iterations: only the open one has that threshold.
      assert.deepEqual(
        Object.keys(rampOnly.thresholds).filter((k) => k.startsWith('dropped_iterations')),
        [],
      );

      const both = loadOptions(script, { GATEWAY_SCENARIO: 'all', GATEWAY_RATE: '35', GATEWAY_DURATION: '2m', GATEWAY_VUS: '24', GATEWAY_RAMP_UP: '20s', GATEWAY_P95_MS: '200', GATEWAY_P99_MS: '400' });
      const rate = both.scenarios.constant_rate;
      const ramp = both.scenarios.ramping_vus;
      assert.equal(rate?.executor, 'constant-arrival-rate');
      assert.equal(rate.rate, 35);
      assert.equal(rate.timeUnit, '1s');
      assert.equal(rate.duration, '2m');
      assert.ok(rate.maxVUs >= rate.preAllocatedVUs);
      assert.equal(ramp?.executor, 'ramping-vus');
      assert.deepEqual(ramp.stages, [
        { duration: '20s', target: 24 },
        { duration: '2m', target: 24 },
        { duration: '10s', target: 0 },
      ]);
      assert.equal(ramp.startTime, '130s', 'with SCENARIO=all the ramp starts once the constant rate (and its graceful stop) is over');

      const success = script === 'grpc-classify' ? 'status:0' : 'expected_response:true';
      const expected: Record<string, string[]> = {
        [ERROR_RATE_METRIC]: ['rate<0.01'],
        checks: ['rate>0.99'],
        ...(script.startsWith('http-') ? { http_req_failed: ['rate<0.01'] } : {}),
        [`${latencyMetric(script)}{scenario:constant_rate,${success}}`]: ['p(95)<200', 'p(99)<400'],
        [`${latencyMetric(script)}{scenario:ramping_vus,${success}}`]: ['p(95)<200', 'p(99)<400'],
        // 1 % of 35/s for 120 s.
        'dropped_iterations{scenario:constant_rate}': ['count<=42'],
      };
      assert.deepEqual(both.thresholds, expected);
      assert.equal(scenarioLatencyMetric(script, 'ramping_vus'), `${latencyMetric(script)}{scenario:ramping_vus,${success}}`);
      assert.equal(maxDroppedIterations({ rate: 35, duration: '2m', maxErrorRate: 0.01 }), 42);
      assert.ok(!(latencyMetric(script) in both.thresholds), 'no latency threshold over failed requests');
      assert.equal(latencyMetric(script), script === 'grpc-classify' ? 'grpc_req_duration' : 'http_req_duration');
      assert.ok(both.summaryTrendStats.includes('p(99)'));
    });
  }

  it('settings: defaults, overrides, and errors that name the bad variable', () => {
    const d = readSettings('grpc-classify', {});
    assert.equal(d.grpcAddr, '127.0.0.1:50051');
    assert.equal(d.model, 'shapes-mobilenetv3');
    assert.equal(readSettings('http-zero-shot', {}).model, 'miniclip-shapes');
    assert.equal(readSettings('http-classify', {}).httpUrl, 'http://127.0.0.1:8080');
    const s = readSettings('http-zero-shot', { GATEWAY_MODEL: 'clip-b32', GATEWAY_MODEL_VERSION: '3', GATEWAY_LABELS: 'cat, dog ,, bird', GATEWAY_TOP_K: '0', GATEWAY_API_KEY: 'k', GATEWAY_REQUEST_TIMEOUT_MS: '2500', GATEWAY_EXPECT_CLASS: 'false' });
    assert.equal(s.model, 'clip-b32');
    assert.equal(s.version, '3');
    assert.equal(s.apiKey, 'k');
    assert.equal(s.requestTimeoutMs, 2500);
    assert.deepEqual(s.labels, ['cat', 'dog', 'bird']);
    assert.deepEqual(['500ms', '45s', '1m30s', '2h'].map(durationSeconds), [0.5, 45, 90, 7200]);
    assert.equal(loadOptions('http-classify', { GATEWAY_SCENARIO: 'all', GATEWAY_DURATION: '1m30s' }).scenarios.ramping_vus?.startTime, '100s');
    assert.equal(s.topK, 0);
    assert.equal(s.expectClass, false);
    for (const [env, message] of [
      [{ GATEWAY_SCENARIO: 'soak' }, /GATEWAY_SCENARIO="soak": expected one of constant_rate, ramping_vus, all/],
      [{ GATEWAY_RATE: '-1' }, /GATEWAY_RATE="-1"/],
      [{ GATEWAY_DURATION: '10' }, /GATEWAY_DURATION="10": expected a positive k6 duration/],
      [{ GATEWAY_VUS: '2.5' }, /GATEWAY_VUS="2.5": expected an integer/],
      [{ GATEWAY_P95_MS: '500', GATEWAY_P99_MS: '100' }, /GATEWAY_P99_MS="100"/],
      [{ GATEWAY_GRPC_ADDR: 'http://gateway:50051' }, /GATEWAY_GRPC_ADDR/],
      [{ GATEWAY_HTTP_URL: 'gateway:8080' }, /GATEWAY_HTTP_URL/],
      [{ GATEWAY_EXPECT_CLASS: 'maybe' }, /GATEWAY_EXPECT_CLASS="maybe": expected true or false/],
    ] as const) {
      assert.throws(() => loadOptions('grpc-classify', env), message);
    }
  });

  it('settings: only GATEWAY_-prefixed names are read (a VERSION or MODEL exported for something else changes nothing), none of them a gateway setting', () => {
    const generic = { MODEL: 'x', VERSION: '9', RATE: '500', DURATION: '1h', VUS: '999', LABELS: 'a,b', SCENARIO: 'soak', API_KEY: 'k', TOP_K: '-3' };
    assert.deepEqual(readSettings('http-zero-shot', generic), readSettings('http-zero-shot', {}));
    assert.deepEqual(loadOptions('grpc-classify', generic), loadOptions('grpc-classify', {}));
    for (const name of SETTING_NAMES) assert.match(name, /^GATEWAY_[A-Z0-9_]+$/);
    // Every name the scripts' lib reads is listed (and so documented in the README's table).
    const read = new Set([...readFileSync(join(K6_DIR, 'lib', 'options.ts'), 'utf8').matchAll(/\(env, '([A-Z0-9_]+)'/g)].map((m) => m[1]!));
    assert.deepEqual([...read].sort(), [...SETTING_NAMES].sort());
    const readme = readFileSync(join(K6_DIR, 'README.md'), 'utf8');
    for (const name of SETTING_NAMES) assert.ok(readme.includes(`\`${name}\``), `${name} is not in loadtest/k6/README.md`);
    // The gateway reads GATEWAY_<SETTING> too: a load-test variable must never reconfigure a gateway started from the same shell.
    const gatewayNames = Object.keys(loadConfig([], {})).map((k) => `GATEWAY_${k.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`);
    assert.ok(gatewayNames.includes('GATEWAY_HTTP_PORT'));
    assert.deepEqual(SETTING_NAMES.filter((n) => gatewayNames.includes(n)), []);
  });

  it("failure reasons: the gateway's error catalog, each counted by a k6 Counter the scripts register", () => {
    assert.deepEqual([...GATEWAY_ERROR_CODES].sort(), Object.keys(ERRORS).sort(), 'loadtest/k6/lib/answers.ts GATEWAY_ERROR_CODES is stale: copy src/errors.ts');
    assert.equal(failureMetric('QUEUE_FULL'), 'gateway_failed_queue_full');
    assert.equal(new Set(FAILURE_REASONS.map(failureMetric)).size, FAILURE_REASONS.length);
    for (const m of FAILURE_REASONS.map(failureMetric)) assert.match(m, /^[a-z_]{1,63}$/, 'a k6 metric name');
    assert.equal(httpFailureReason({ status: 0, body: null }, false), 'NO_ANSWER');
    assert.equal(httpFailureReason({ status: 200, body: '{}' }, true), undefined);
    assert.equal(httpFailureReason({ status: 200, body: '{}' }, false), 'WRONG_ANSWER');
    assert.equal(httpFailureReason({ status: 429, body: '{"error":{"code":"QUEUE_FULL","message":"full"}}' }, false), 'QUEUE_FULL');
    assert.equal(httpFailureReason({ status: 404, body: '{"error":"no such model"}', headers: { 'X-Error-Code': 'MODEL_NOT_FOUND' } }, false), 'MODEL_NOT_FOUND');
    assert.equal(httpFailureReason({ status: 502, body: '<html>Bad Gateway</html>' }, false), 'OTHER_STATUS');
    assert.equal(grpcFailureReason({ status: 0 }, true), undefined);
    assert.equal(grpcFailureReason({ status: 0 }, false), 'WRONG_ANSWER');
    assert.equal(grpcFailureReason({ status: 8, trailers: { 'x-error-code': ['RATE_LIMITED'] } }, false), 'RATE_LIMITED');
    assert.equal(grpcFailureReason({ status: 14 }, false), 'NO_ANSWER');
    assert.equal(grpcFailureReason({ status: 4 }, false), 'NO_ANSWER');
    assert.equal(grpcFailureReason({ status: 13 }, false), 'OTHER_STATUS');
    assert.equal(unreachableMessage('http://10.0.0.9:8080', 'GATEWAY_HTTP_URL', 'dial tcp: connection refused'), 'cannot reach the gateway at http://10.0.0.9:8080 (GATEWAY_HTTP_URL): dial tcp: connection refused');
    for (const script of SCRIPTS) {
      const source = scriptSource(script);
      assert.match(source, /FAILURE_REASONS\.map\(\(reason\) => \[reason, new Counter\(failureMetric\(reason\)\)\]\)\)/, `${script} registers the failure counters`);
      assert.match(source, script === 'grpc-classify' ? /grpcFailureReason\(/ : /httpFailureReason\(/, `${script} counts failures`);
      assert.match(source, new RegExp(`unreachableMessage\\(settings\\.${script === 'grpc-classify' ? 'grpcAddr' : 'httpUrl'}`), `${script}'s setup() names the address it could not reach`);
      assert.match(source, /version: settings\.version/, `${script}'s setup() checks GATEWAY_MODEL_VERSION`);
    }
  });

  it('fixtures: small images that decode at 64x64 in their declared format, every class among the zero-shot labels', async () => {
    assert.ok(index.images.length >= 2);
    assert.ok(index.images.some((i) => i.contentType === 'image/png') && index.images.some((i) => i.contentType === 'image/jpeg'), 'PNG and JPEG both');
    for (const image of index.images) {
      const bytes = readFileSync(join(FIXTURES, image.file));
      assert.ok(bytes.length <= FIXTURE_MAX_BYTES, `${image.file} is ${bytes.length} bytes`);
      const meta = await sharp(bytes).metadata();
      assert.equal(`image/${meta.format}`, image.contentType, image.file);
      assert.deepEqual([meta.width, meta.height], [64, 64], image.file);
      assert.ok(index.zeroShotLabels.includes(zeroShotLabel(image.className)), `${image.className} is not a zero-shot label`);
    }
  });

  it("grpc-classify loads the project's proto from the default PROTO_DIR, and the methods it invokes exist", () => {
    assert.match(scriptSource('grpc-classify'), /client\.load\(\[settings\.protoDir\], GATEWAY_PROTO\);/);
    assert.equal(readSettings('grpc-classify', {}).protoDir, DEFAULT_PROTO_DIR);
    // k6 resolves import paths from the entry script's folder, loadtest/k6/.
    const proto = join(K6_DIR, DEFAULT_PROTO_DIR, GATEWAY_PROTO);
    assert.ok(existsSync(proto), `${proto} does not exist`);
    assert.equal(realpathSync(proto), realpathSync(PROTO_PATH), 'not the proto the gateway serves');
    const service = loadGatewayProto().packageDefinition['gateway.v1.InferenceGateway'] as Record<string, { path: string }>;
    const paths = Object.values(service).map((m) => m.path);
    for (const method of [GRPC_CLASSIFY, GRPC_LIST_MODELS]) assert.ok(paths.includes(`/${method}`), `${method} not in ${paths.join(', ')}`);
  });

  it("base64 (the scripts' own, k6 has no Buffer) equals Node's for every tail length", () => {
    const bytes = new Uint8Array(259).map((_, i) => (i * 73 + 11) & 255);
    for (let n = 0; n <= bytes.length; n += n < 8 ? 1 : 37) {
      const slice = bytes.slice(0, n);
      assert.equal(base64(slice.buffer), Buffer.from(slice).toString('base64'), `${n} bytes`);
    }
  });

  it('request builders: query, content type, authorization and deadline headers', () => {
    const call = { apiKey: 'secret', requestTimeoutMs: 1500 };
    const r = classifyHttpRequest('http://gw:8080/', { bytes: new ArrayBuffer(3), contentType: 'image/jpeg' }, { model: 'a b', version: '2', topK: 3 }, call);
    assert.equal(r.url, 'http://gw:8080/v1/classify?model=a%20b&version=2&top_k=3');
    assert.deepEqual(r.headers, { 'content-type': 'image/jpeg', authorization: 'Bearer secret', 'x-request-timeout-ms': '1500' });
    const z = zeroShotHttpRequest('http://gw', new Uint8Array([1, 2, 3]).buffer, { model: 'm', version: '', labels: ['x', 'y'], template: '', topK: 0 }, { apiKey: '', requestTimeoutMs: 0 });
    assert.deepEqual(z.headers, { 'content-type': 'application/json' });
    assert.deepEqual(JSON.parse(z.body as string), { model: 'm', image: 'AQID', labels: ['x', 'y'] });
    assert.deepEqual(grpcMetadata(call), { authorization: 'Bearer secret' });
  });

  describe('end to end: the requests the scripts build, against a real gateway on the default models', () => {
    let gw: TestGateway;
    before(async () => {
      gw = await startTestGateway(await makeRepository([{ from: join(ZOO_MODELS, 'shapes-mobilenetv3') }, { from: join(ZOO_MODELS, 'miniclip-shapes') }]));
    });
    after(() => gw?.stop());

    it("setup() probes: both models READY and of the script's kind, over HTTP and gRPC; a wrong kind or name is refused", async () => {
      const call = { apiKey: '', requestTimeoutMs: 0 };
      for (const [model, kind] of [
        ['shapes-mobilenetv3', 'image-classifier'],
        ['miniclip-shapes', 'clip'],
      ] as const) {
        const res = await send(modelHttpRequest(gw.http, model, call));
        assert.equal(res.status, 200, res.text);
        assert.equal(modelProblem(parseAnswer(res.text), { name: model, kind }), undefined);
      }
      const list = parseAnswer(await gw.client.listModels());
      assert.equal(modelProblem(findModel(list, 'shapes-mobilenetv3'), { name: 'shapes-mobilenetv3', kind: 'image-classifier' }), undefined);
      assert.match(modelProblem(findModel(list, 'miniclip-shapes'), { name: 'miniclip-shapes', kind: 'image-classifier' }) ?? '', /needs a image-classifier model/);
      assert.match(modelProblem(findModel(list, 'nope'), { name: 'nope', kind: 'clip' }) ?? '', /not served/);
      assert.equal((await send(modelHttpRequest(gw.http, 'nope', call))).status, 404);
      // GATEWAY_MODEL_VERSION: a served version passes, a missing one is refused with the versions there are.
      const http = parseAnswer((await send(modelHttpRequest(gw.http, 'shapes-mobilenetv3', call))).text);
      for (const model of [http, findModel(list, 'shapes-mobilenetv3')]) {
        assert.equal(modelProblem(model, { name: 'shapes-mobilenetv3', kind: 'image-classifier', version: '1' }), undefined);
        assert.equal(modelProblem(model, { name: 'shapes-mobilenetv3', kind: 'image-classifier', version: '7' }), 'model "shapes-mobilenetv3" has no version "7" (GATEWAY_MODEL_VERSION); versions: 1');
      }
    });

    it("failures are counted under the gateway's error code, over HTTP and gRPC", async () => {
      const call = { apiKey: '', requestTimeoutMs: 0 };
      const image = { bytes: fixtureBytes(index.images[0]!.file), contentType: index.images[0]!.contentType };
      const missing = await fetchFull(classifyHttpRequest(gw.http, image, { model: 'nope', version: '', topK: 1 }, call));
      assert.equal(missing.status, 404);
      assert.equal(httpFailureReason(missing, false), 'MODEL_NOT_FOUND');
      const badVersion = await fetchFull(classifyHttpRequest(gw.http, image, { model: 'shapes-mobilenetv3', version: '7', topK: 1 }, call));
      assert.equal(httpFailureReason(badVersion, false), 'VERSION_NOT_FOUND');
      const notImage = await fetchFull({ ...classifyHttpRequest(gw.http, image, { model: 'shapes-mobilenetv3', version: '', topK: 1 }, call), body: 'not an image' });
      assert.equal(httpFailureReason(notImage, false), 'INVALID_IMAGE');
      const err = await new Promise<grpc.ServiceError>((resolve, reject) => {
        gw.client.raw['Classify']!(classifyGrpcMessage(image.bytes, { model: 'nope', version: '', topK: 1 }), new grpc.Metadata(), (e: grpc.ServiceError | null) => (e ? resolve(e) : reject(new Error('no error'))));
      });
      assert.equal(grpcFailureReason({ status: err.code, trailers: err.metadata.getMap() }, false), 'MODEL_NOT_FOUND');
      const refused = await fetch('http://127.0.0.1:1/v1/models').then(
        () => 200,
        () => 0,
      );
      assert.equal(httpFailureReason({ status: refused, body: null }, false), 'NO_ANSWER');
    });

    for (const image of index.images) {
      it(`http-classify: ${image.file} answers 200 and passes every check, top-1 ${image.className}`, async () => {
        const settings = readSettings('http-classify', { GATEWAY_HTTP_URL: gw.http, GATEWAY_REQUEST_TIMEOUT_MS: '5000' });
        const request = classifyHttpRequest(settings.httpUrl, { bytes: fixtureBytes(image.file), contentType: image.contentType }, settings, settings);
        const res = await send(request);
        assert.equal(res.status, 200, res.text);
        const answer = parseAnswer(res.text);
        const checks = classifyChecks({ model: settings.model, topK: settings.topK, top1: image.className });
        assert.equal(Object.keys(checks).length, 3);
        assert.deepEqual(failing(checks, answer), [], res.text);
        // The checks can fail: another model's name, another class.
        assert.deepEqual(failing(classifyChecks({ model: 'shapes-teacher', topK: 1, top1: 'pink_square' }), answer), ['answer names the model', 'labels present, at most top_k, best first', 'top-1 is the fixture class']);
        assert.deepEqual(failing(checks, undefined).length, 3, 'no answer fails every check');
      });

      it(`http-zero-shot: ${image.file} answers 200 and passes every check, top-1 "${zeroShotLabel(image.className)}"`, async () => {
        const settings = readSettings('http-zero-shot', { GATEWAY_HTTP_URL: gw.http });
        const request = zeroShotHttpRequest(settings.httpUrl, fixtureBytes(image.file), { ...settings, labels: index.zeroShotLabels }, settings);
        const res = await send(request);
        assert.equal(res.status, 200, res.text);
        const answer = parseAnswer(res.text);
        const checks = zeroShotChecks({ model: settings.model, labels: index.zeroShotLabels, topK: settings.topK, top1: zeroShotLabel(image.className) });
        assert.deepEqual(failing(checks, answer), [], res.text);
        assert.equal((answer?.['labels'] as unknown[]).length, settings.topK);
        // Labels outside the requested set fail the label check.
        assert.deepEqual(failing(zeroShotChecks({ model: settings.model, labels: ['pink square'], topK: 0, top1: undefined }), answer), ['labels are requested ones, each once, best first']);
      });

      it(`grpc-classify: ${image.file} answers OK through the proto and passes every check`, async () => {
        const settings = readSettings('grpc-classify', {});
        const message = classifyGrpcMessage(fixtureBytes(image.file), settings);
        const metadata = new grpc.Metadata();
        for (const [k, v] of Object.entries(grpcMetadata(settings))) metadata.set(k, v);
        const reply = await new Promise<unknown>((resolve, reject) => {
          gw.client.raw['Classify']!(message, metadata, (err: grpc.ServiceError | null, r: unknown) => (err ? reject(err) : resolve(r)));
        });
        const answer = parseAnswer(reply);
        assert.deepEqual(failing(classifyChecks({ model: settings.model, topK: settings.topK, top1: image.className }), answer), [], JSON.stringify(reply));
      });
    }
  });
});
