// Every field of every HTTP route, sent with the wrong type, on the real gateway over loopback:
// each answer is 400 INVALID_ARGUMENT naming the field and the expected type (never a 500), the
// failure is logged exactly once, and the one leniency rule (strings of digits for numbers and
// versions, "true"/"false" for flags) holds the same in JSON, query strings and form fields.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { solidImage } from '../helpers/images.js';
import { FIXTURE_MODELS, type TestGateway, makeRepository, startTestGateway } from '../helpers/gateway.js';

/** Values of every JSON type; each field is sent with each one its schema does not accept. */
const VALUES: Record<string, unknown> = { number: 123, float: 1.5, boolean: true, object: {}, array: ['x'], null: null, string: 'x', digits: '2' };

interface FieldCase {
  readonly field: string;
  /** Names in VALUES the field must refuse. */
  readonly wrong: readonly string[];
  /** What the message must say the field expects. */
  readonly expects: RegExp;
}

interface RouteCase {
  readonly path: string;
  readonly valid: () => Record<string, unknown>;
  readonly fields: readonly FieldCase[];
  /** The error body's shape: /v1 answers {error: {code, message}}, /v2 {error: message} with x-error-code. */
  readonly v2?: boolean;
}

const STRING = /a (model name \(a )?string/;
const POSITIVE = /a positive integer \(a number or a string of digits\)/;
const VERSION = /a version number \(a positive integer or a string of digits\)/;
const TEXTS = /a string or an array of strings/;

let image64 = '';
const tensor = (): Record<string, unknown> => ({ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: new Array(3 * 32 * 32).fill(0.5) });

const ROUTES: readonly RouteCase[] = [
  {
    path: '/v1/classify',
    valid: () => ({ model: 'tiny', version: '1', top_k: 2, image: image64 }),
    fields: [
      { field: 'model', wrong: ['number', 'boolean', 'object', 'array', 'null'], expects: STRING },
      { field: 'version', wrong: ['float', 'boolean', 'object', 'array', 'null', 'string'], expects: VERSION },
      { field: 'top_k', wrong: ['float', 'boolean', 'object', 'array', 'null', 'string'], expects: POSITIVE },
      { field: 'image', wrong: ['number', 'boolean', 'object', 'array', 'null'], expects: /a non-empty base64 string/ },
    ],
  },
  {
    path: '/v1/zero-shot',
    valid: () => ({ model: 'clip', version: 1, image: image64, labels: ['cat', 'dog'], template: 'a photo of {}', templates: ['{}'], top_k: '1', multi_label: 'false' }),
    fields: [
      { field: 'model', wrong: ['number', 'boolean', 'object', 'array', 'null'], expects: STRING },
      { field: 'version', wrong: ['float', 'boolean', 'object', 'array', 'null', 'string'], expects: VERSION },
      { field: 'image', wrong: ['number', 'boolean', 'object', 'array', 'null'], expects: /a non-empty base64 string/ },
      { field: 'labels', wrong: ['number', 'boolean', 'object', 'null'], expects: TEXTS },
      { field: 'template', wrong: ['number', 'boolean', 'object', 'null'], expects: TEXTS },
      { field: 'templates', wrong: ['number', 'boolean', 'object', 'null'], expects: TEXTS },
      { field: 'top_k', wrong: ['float', 'boolean', 'object', 'array', 'null', 'string'], expects: POSITIVE },
      { field: 'multi_label', wrong: ['number', 'object', 'array', 'null', 'string', 'digits'], expects: /true or false/ },
    ],
  },
  {
    path: '/v1/embed',
    valid: () => ({ model: 'clip', version: '1', image: image64, texts: ['cat'] }),
    fields: [
      { field: 'model', wrong: ['number', 'boolean', 'object', 'array', 'null'], expects: STRING },
      { field: 'version', wrong: ['float', 'boolean', 'object', 'array', 'null', 'string'], expects: VERSION },
      { field: 'image', wrong: ['number', 'boolean', 'object', 'array', 'null'], expects: /a non-empty base64 string/ },
      { field: 'texts', wrong: ['number', 'boolean', 'object', 'null'], expects: TEXTS },
    ],
  },
  {
    path: '/v2/models/tiny/infer',
    v2: true,
    valid: () => ({ id: 'r1', parameters: { binary_data_output: false }, inputs: [tensor()], outputs: [{ name: 'logits', parameters: { classification: 2 } }] }),
    fields: [
      { field: 'id', wrong: ['number', 'boolean', 'object', 'array', 'null'], expects: /a non-empty string/ },
      { field: 'parameters', wrong: ['number', 'boolean', 'array', 'null', 'string'], expects: /an object of string, number or boolean values/ },
      { field: 'inputs', wrong: ['number', 'boolean', 'object', 'null', 'string'], expects: /a non-empty array of input tensors/ },
      { field: 'outputs', wrong: ['number', 'boolean', 'object', 'null', 'string'], expects: /an array of requested outputs/ },
    ],
  },
];

/** Fields inside a v2 input tensor or requested output, by path. */
const V2_NESTED: readonly { path: string; set: (body: Record<string, unknown>, value: unknown) => void; wrong: readonly string[]; expects: RegExp }[] = [
  { path: 'inputs[0].name', set: (b, v) => ((b['inputs'] as Record<string, unknown>[])[0]!['name'] = v), wrong: ['number', 'boolean', 'object', 'array', 'null'], expects: /a non-empty string/ },
  { path: 'inputs[0].datatype', set: (b, v) => ((b['inputs'] as Record<string, unknown>[])[0]!['datatype'] = v), wrong: ['number', 'boolean', 'object', 'array', 'null'], expects: /a non-empty string/ },
  { path: 'inputs[0].shape', set: (b, v) => ((b['inputs'] as Record<string, unknown>[])[0]!['shape'] = v), wrong: ['number', 'boolean', 'object', 'null', 'string'], expects: /an array of integers/ },
  { path: 'inputs[0].shape[1]', set: (b, v) => ((b['inputs'] as Record<string, unknown>[])[0]!['shape'] = [1, v, 32, 32]), wrong: ['float', 'boolean', 'object', 'array', 'null', 'string'], expects: /a non-negative integer/ },
  { path: 'inputs[0].parameters', set: (b, v) => ((b['inputs'] as Record<string, unknown>[])[0]!['parameters'] = v), wrong: ['number', 'boolean', 'array', 'null', 'string'], expects: /an object of string, number or boolean values/ },
  { path: 'parameters.binary_data_output', set: (b, v) => (b['parameters'] = { binary_data_output: v }), wrong: ['object', 'array', 'null'], expects: /a string or a number or true or false/ },
  { path: 'outputs[0].name', set: (b, v) => ((b['outputs'] as Record<string, unknown>[])[0]!['name'] = v), wrong: ['number', 'boolean', 'object', 'array', 'null'], expects: /a non-empty string/ },
];

interface Answer {
  status: number;
  code: string | undefined;
  message: string;
  requestId: string | null;
}

describe('wrong JSON types are 400 INVALID_ARGUMENT naming the field (every route)', () => {
  let gw: TestGateway;
  const logLines: Record<string, unknown>[] = [];
  let sent = 0;

  const post = async (path: string, body: BodyInit, contentType?: string): Promise<Answer> => {
    const requestId = `types-${++sent}`;
    const res = await fetch(`${gw.http}${path}`, { method: 'POST', headers: { ...(contentType ? { 'content-type': contentType } : {}), 'x-request-id': requestId }, body });
    const json = (await res.json()) as { error?: string | { code: string; message: string } };
    const error = json.error;
    if (typeof error === 'string') return { status: res.status, code: res.headers.get('x-error-code') ?? undefined, message: error, requestId };
    return { status: res.status, code: error?.code, message: error?.message ?? JSON.stringify(json).slice(0, 200), requestId };
  };
  const postJson = (path: string, body: unknown): Promise<Answer> => post(path, JSON.stringify(body), 'application/json');

  /** 400 INVALID_ARGUMENT whose message names `field` and says what it expects; logged exactly once. */
  const assertRefused = (answer: Answer, field: string, expects: RegExp, what: string): void => {
    assert.equal(answer.status, 400, `${what}: ${answer.message}`);
    assert.equal(answer.code, 'INVALID_ARGUMENT', what);
    assert.ok(answer.message.includes(`"${field}"`), `${what}: the message names "${field}": ${answer.message}`);
    assert.match(answer.message, expects, what);
    const logged = logLines.filter((l) => l['requestId'] === answer.requestId);
    assert.equal(logged.length, 1, `${what}: logged once (${JSON.stringify(logged)})`);
    assert.equal(logged[0]!['code'], 'INVALID_ARGUMENT', what);
  };

  before(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line) logLines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const root = await makeRepository([
      { from: join(FIXTURE_MODELS, 'tiny-dynamic'), as: 'tiny' },
      { from: join(FIXTURE_MODELS, 'tiny-clip'), as: 'clip' },
    ]);
    gw = await startTestGateway(root, { adminApi: true }, { logger: pino({ level: 'debug' }, sink) });
    image64 = (await solidImage(32, 32)).toString('base64');
  });
  after(() => gw.stop());

  for (const route of ROUTES) {
    it(`${route.path}: the valid body is answered 200 (numbers as digit strings, versions as numbers)`, async () => {
      const answer = await postJson(route.path, route.valid());
      assert.equal(answer.status, 200, answer.message);
    });

    it(`${route.path}: every field with every wrong JSON type is 400 naming it`, async () => {
      for (const { field, wrong, expects } of route.fields) {
        for (const kind of wrong) {
          const answer = await postJson(route.path, { ...route.valid(), [field]: VALUES[kind] });
          assertRefused(answer, field, expects, `${route.path} ${field}=${JSON.stringify(VALUES[kind])}`);
        }
      }
    });

    it(`${route.path}: an unknown field is refused by name`, async () => {
      const answer = await postJson(route.path, route.v2 ? { ...route.valid(), inputs: [{ ...tensor(), colour: 1 }] } : { ...route.valid(), colour: 'red' });
      if (route.v2) {
        // v2 objects are open (the protocol lets clients add fields); only the known ones are typed.
        assert.equal(answer.status, 200, answer.message);
      } else {
        assert.equal(answer.status, 400);
        assert.match(answer.message, /unknown field "colour"; accepted: /);
      }
    });
  }

  it('/v2 infer: every nested field of tensors and outputs with a wrong type is 400 naming it', async () => {
    for (const { path, set, wrong, expects } of V2_NESTED) {
      for (const kind of wrong) {
        const body = ROUTES[3]!.valid();
        set(body, VALUES[kind]);
        const answer = await postJson('/v2/models/tiny/infer', body);
        assertRefused(answer, path, expects, `${path}=${JSON.stringify(VALUES[kind])}`);
      }
    }
  });

  it('a JSON body that is not an object is 400 saying so, for every route', async () => {
    for (const path of ['/v1/classify', '/v1/zero-shot', '/v1/embed', '/v2/models/tiny/infer', '/v1/admin/reload']) {
      for (const body of ['[1,2]', '"x"', '7', 'null']) {
        const answer = await post(path, body, 'application/json');
        assert.equal(answer.status, 400, `${path} ${body}: ${answer.message}`);
        assert.equal(answer.code, 'INVALID_ARGUMENT');
        assert.match(answer.message, /request body must be an object/, `${path} ${body}`);
      }
    }
  });

  it('/v1/admin/reload: takes no fields; a JSON body with one is refused by name', async () => {
    assert.equal((await fetch(`${gw.http}/v1/admin/reload`, { method: 'POST' })).status, 200);
    assert.equal((await postJson('/v1/admin/reload', {})).status, 200);
    const answer = await postJson('/v1/admin/reload', { model: 1 });
    assert.equal(answer.status, 400);
    assert.match(answer.message, /unknown field "model"; accepted: none/);
  });

  it('query parameters follow the same rules: digit strings accepted, other text and repeats refused by name', async () => {
    const png = Buffer.from(image64, 'base64');
    const classify = (query: string): Promise<Answer> => post(`/v1/classify?${query}`, png, 'image/png');
    assert.equal((await classify('model=tiny&version=1&top_k=2')).status, 200);
    const refused: [string, string, RegExp][] = [
      ['model=tiny&top_k=two', 'top_k', POSITIVE],
      ['model=tiny&top_k=1.5', 'top_k', POSITIVE],
      ['model=tiny&top_k=0', 'top_k', POSITIVE],
      ['model=tiny&version=v1', 'version', VERSION],
      ['model=tiny&model=tiny', 'model', STRING],
      ['model=tiny&top_k=1&top_k=2', 'top_k', POSITIVE],
    ];
    for (const [query, field, expects] of refused) assertRefused(await classify(query), field, expects, `?${query}`);
    const unknown = await classify('model=tiny&topk=3');
    assert.match(unknown.message, /unknown parameter "topk"; accepted: model, version, top_k/);

    const zeroShot = (query: string): Promise<Answer> => postJson(`/v1/zero-shot?${query}`, { image: image64, labels: ['cat', 'dog'] });
    assert.equal((await zeroShot('model=clip&top_k=1&multi_label=true')).status, 200);
    assertRefused(await zeroShot('model=clip&multi_label=maybe'), 'multi_label', /true or false/, 'zero-shot ?multi_label=maybe');
    assertRefused(await zeroShot('model=clip&top_k=x'), 'top_k', POSITIVE, 'zero-shot ?top_k=x');
    assertRefused(await postJson('/v1/embed?model=clip&version=x', { texts: ['cat'] }), 'version', VERSION, 'embed ?version=x');
  });

  it('multipart form fields follow the same rules as JSON and the query string', async () => {
    const png = new Blob([Buffer.from(image64, 'base64')], { type: 'image/png' });
    const form = (fields: [string, string][]): FormData => {
      const f = new FormData();
      for (const [k, v] of fields) f.append(k, v);
      f.append('image', png, 'x.png');
      return f;
    };
    assert.equal((await post('/v1/classify', form([['model', 'tiny'], ['version', '1'], ['top_k', '2']]))).status, 200);
    assertRefused(await post('/v1/classify', form([['model', 'tiny'], ['top_k', 'two']])), 'top_k', POSITIVE, 'form top_k=two');
    assertRefused(await post('/v1/classify', form([['model', 'tiny'], ['model', 'tiny']])), 'model', STRING, 'form model twice');
    assertRefused(await post('/v1/classify', form([['model', 'tiny'], ['version', 'latest']])), 'version', VERSION, 'form version=latest');

    assert.equal((await post('/v1/zero-shot', form([['model', 'clip'], ['labels', 'cat'], ['labels', 'dog'], ['top_k', '1'], ['multi_label', '1']]))).status, 200);
    assertRefused(await post('/v1/zero-shot', form([['model', 'clip'], ['labels', 'cat'], ['multi_label', 'yes']])), 'multi_label', /true or false/, 'form multi_label=yes');
    assertRefused(await post('/v1/zero-shot', form([['model', 'clip'], ['labels', 'cat'], ['top_k', '-1']])), 'top_k', POSITIVE, 'form top_k=-1');
    assertRefused(await post('/v1/embed', form([['model', 'clip'], ['version', '1.0']])), 'version', VERSION, 'form version=1.0');
    const unknown = await post('/v1/embed', form([['model', 'clip'], ['colour', 'red']]));
    assert.match(unknown.message, /unknown field "colour"; accepted: model, version, texts/);
  });

  it('a version given as a number is the same version as its digits', async () => {
    for (const version of [1, '1']) {
      const answer = await postJson('/v1/classify', { model: 'tiny', version, image: image64 });
      assert.equal(answer.status, 200, `version ${JSON.stringify(version)}: ${answer.message}`);
    }
    const missing = await postJson('/v1/classify', { model: 'tiny', version: 2, image: image64 });
    assert.equal(missing.status, 404);
    assert.equal(missing.code, 'VERSION_NOT_FOUND');
  });
});
