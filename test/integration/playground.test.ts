// The playground page in a real browser (Debian chromium via playwright-core) against a real
// gateway serving a classifier and a clip model of the zoo: a golden image classified with the top
// label shown, zero-shot with typed labels and with a registered label set drawn in the API's
// order, a non-image file answered with the API's error message, the "copy as curl" command run for
// real, and the models panel.
// Screenshots go to the test's temp dir (set PLAYGROUND_SCREENSHOTS=DIR to keep them elsewhere).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { Page } from 'playwright-core';
import { hashApiKey } from '../../src/server/auth.js';
import { type TestBrowser, launchBrowser } from '../helpers/browser.js';
import { REPO_ROOT, type TestGateway, ZOO_MODELS, makeRepository, startTestGateway } from '../helpers/gateway.js';

const CLASSIFIER = 'shapes-mobilenetv3';
const CLIP = 'miniclip-shapes';
const GOLDEN = join(ZOO_MODELS, CLASSIFIER, '1', 'golden', '0.png');
const STEP_TIMEOUT_MS = 30_000;
/** A label set registered from a file in the clip model's folder: the page offers it. */
const LABEL_SET = 'shapes';
const LABEL_SET_LABELS = ['a blue star', 'a green triangle', 'a red cross', 'a yellow circle'];

type Scored = { labels: { label: string; score: number }[] };

describe('playground page in chromium', () => {
  let gw: TestGateway;
  let browser: TestBrowser;
  let page: Page;
  let shots: string;
  const consoleErrors: string[] = [];
  const offHost: string[] = [];
  const failed: string[] = [];

  before(async () => {
    shots = process.env['PLAYGROUND_SCREENSHOTS'] ?? (await mkdtemp(join(tmpdir(), 'playground-shots-')));
    const repo = await makeRepository([{ from: join(ZOO_MODELS, CLASSIFIER) }, { from: join(ZOO_MODELS, CLIP) }]);
    await mkdir(join(repo, CLIP, 'labelsets'));
    await writeFile(join(repo, CLIP, 'labelsets', `${LABEL_SET}.txt`), `#template: a drawing of {}.\n${LABEL_SET_LABELS.join('\n')}\n`);
    gw = await startTestGateway(repo);
    browser = await launchBrowser();
    page = await browser.context.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('response', (r) => {
      if (r.status() >= 400) failed.push(`${r.status()} ${r.request().method()} ${r.url().replace(gw.http, '')}`);
    });
    page.on('request', (r) => {
      if (!r.url().startsWith(gw.http) && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) offHost.push(r.url());
    });
    await page.goto(`${gw.http}/`);
    await page.waitForSelector(`#model option[value="${CLASSIFIER}"]`, { state: 'attached' });
  });

  after(async () => {
    await browser?.close();
    await gw?.stop();
    if (!process.env['PLAYGROUND_SCREENSHOTS'] && shots) await rm(shots, { recursive: true, force: true });
  });

  async function expectedOrder(path: string, form: FormData): Promise<string[]> {
    const res = await fetch(`${gw.http}${path}`, { method: 'POST', body: form });
    assert.equal(res.status, 200);
    return ((await res.json()) as Scored).labels.map((l) => l.label);
  }

  const shownLabels = (): Promise<string[]> => shownLabelsOf(page);

  it('classifies an uploaded golden image and shows its top label, the timing split and the batch size', async () => {
    const png = await readFile(GOLDEN);
    const form = new FormData();
    form.append('image', new Blob([new Uint8Array(png)]), '0.png');
    form.append('model', CLASSIFIER);
    form.append('top_k', '5');
    const expected = await expectedOrder('/v1/classify', form);

    await page.selectOption('#model', CLASSIFIER);
    assert.equal(await page.isVisible('#top-k'), true, 'a classifier shows top_k');
    assert.equal(await page.isVisible('#labels'), false, 'a classifier hides the labels');
    await page.setInputFiles('#file', GOLDEN);
    await page.waitForSelector('#preview:not([hidden])');
    await page.fill('#top-k', '5');
    await page.click('#run');
    await page.waitForSelector('#result:not([hidden])');

    const shown = await shownLabels();
    assert.equal(shown.length, 5);
    assert.equal(shown[0], expected[0], `top label shown ${shown[0]}, the API says ${expected[0]}`);
    assert.equal(shown[0], 'red_cross');
    const stages = await page.locator('#timing [data-stage]').evaluateAll((s) => s.map((e) => (e as HTMLElement).dataset['stage']));
    assert.deepEqual(stages, ['preprocess', 'queue', 'inference']);
    assert.match((await page.textContent('#meta')) ?? '', /batch size \d+/);
    await page.screenshot({ path: join(shots, 'classify.png'), fullPage: true });
  });

  it('"copy as curl" is the same request: run by curl, it gets the same top label', async () => {
    // The command names the picked file by its name: run it where that file is.
    const curl = (await page.textContent('#curl')) ?? '';
    assert.match(curl, /--form-string model=shapes-mobilenetv3/);
    const { stdout } = await promisify(execFile)('bash', ['-c', curl], { cwd: join(ZOO_MODELS, CLASSIFIER, '1', 'golden') });
    assert.equal((JSON.parse(stdout) as Scored).labels[0]!.label, 'red_cross');
    const grpc = (await page.textContent('#grpc')) ?? '';
    assert.match(grpc, /npx gateway-cli --address 127\.0\.0\.1:50051 classify 0\.png --model shapes-mobilenetv3 --top-k 5/);
    assert.match(grpc, /grpcurl -plaintext -d @ 127\.0\.0\.1:50051 gateway\.v1\.InferenceGateway\/Classify/);
    // What grpcurl would read on stdin: the shell's expansion of the heredoc is the JSON message.
    const heredoc = grpc.slice(grpc.indexOf('grpcurl -')).replace(/^grpcurl [^<]*/, 'cat ');
    const { stdout: message } = await promisify(execFile)('bash', ['-c', heredoc], { cwd: join(ZOO_MODELS, CLASSIFIER, '1', 'golden') });
    const parsed = JSON.parse(message) as { model: string; top_k: number; image: string };
    assert.deepEqual({ model: parsed.model, top_k: parsed.top_k }, { model: CLASSIFIER, top_k: 5 });
    assert.ok(Buffer.from(parsed.image, 'base64').equals(await readFile(GOLDEN)), 'the heredoc carries the image as base64');
  });

  it('runs zero-shot with typed labels and draws the bars in the API\'s order', async () => {
    const labels = 'a blue star, a green triangle, a red cross, a yellow circle';
    const png = await readFile(GOLDEN);
    const form = new FormData();
    form.append('image', new Blob([new Uint8Array(png)]), '0.png');
    form.append('model', CLIP);
    form.append('labels', labels);
    const expected = await expectedOrder('/v1/zero-shot', form);
    assert.equal(expected.length, 4);

    await page.selectOption('#model', CLIP);
    assert.equal(await page.isVisible('#labels'), true, 'a clip model shows labels');
    assert.equal(await page.isVisible('#top-k'), false, 'a clip model hides the classifier\'s top_k');
    assert.equal(await page.isVisible('#templates'), true);
    assert.equal(await page.isVisible('#multi-label'), true);
    assert.equal(await page.isVisible('#label-set'), true, 'the model\'s label set is offered');
    assert.equal(await page.inputValue('#label-set'), '', 'typed labels until a set is picked');
    await page.fill('#labels', labels);
    await page.click('#run');
    await page.waitForFunction((model) => document.querySelector('#result-title')?.textContent?.startsWith(model), CLIP);

    assert.deepEqual(await shownLabels(), expected);
    const widths = await page.locator('#bars .fill').evaluateAll((fills) => fills.map((f) => parseFloat((f as HTMLElement).style.width)));
    assert.deepEqual([...widths].sort((a, b) => b - a), widths, 'bars shrink down the list');
    assert.ok(await page.isVisible('#timing [data-stage="text"]'), 'zero-shot shows the text-encoding time');
    assert.match((await page.textContent('#grpc')) ?? '', /ZeroShotClassify/);
    await page.screenshot({ path: join(shots, 'zero-shot.png'), fullPage: true });
  });

  it('offers the clip model\'s label set and draws its scores in the API\'s order; the commands name the set', async () => {
    const png = await readFile(GOLDEN);
    const form = new FormData();
    form.append('image', new Blob([new Uint8Array(png)]), '0.png');
    form.append('model', CLIP);
    form.append('label_set', LABEL_SET);
    const expected = await expectedOrder('/v1/zero-shot', form);
    assert.deepEqual([...expected].sort(), [...LABEL_SET_LABELS].sort());

    await page.selectOption('#model', CLIP);
    const offered = await page.locator('#label-set option').evaluateAll((options) => options.map((o) => (o as HTMLOptionElement).value));
    assert.deepEqual(offered, ['', LABEL_SET]);
    await page.selectOption('#label-set', LABEL_SET);
    assert.equal(await page.isVisible('#labels'), false, 'a label set brings its own labels');
    assert.equal(await page.isVisible('#templates'), false, 'and its own templates');
    // The typed-labels answer is still shown: wait for this request's answer (a new request id).
    const previous = await page.textContent('#meta');
    await page.click('#run');
    await page.waitForFunction((before) => document.querySelector('#meta')?.textContent !== before && !document.querySelector<HTMLElement>('#result')?.hidden, previous);
    assert.deepEqual(await shownLabels(), expected);

    const curl = (await page.textContent('#curl')) ?? '';
    assert.match(curl, /--form-string label_set=shapes/);
    assert.doesNotMatch(curl, /labels=|templates=/);
    const { stdout } = await promisify(execFile)('bash', ['-c', curl], { cwd: join(ZOO_MODELS, CLASSIFIER, '1', 'golden') });
    assert.deepEqual((JSON.parse(stdout) as Scored).labels.map((l) => l.label), expected);
    const grpc = (await page.textContent('#grpc')) ?? '';
    assert.match(grpc, /gateway-cli --address 127\.0\.0\.1:50051 zero-shot 0\.png --model miniclip-shapes --label-set shapes/);
    assert.match(grpc, /"label_set":"shapes"/);
    await page.screenshot({ path: join(shots, 'label-set.png'), fullPage: true });
    // Back to typed labels for the next steps.
    await page.selectOption('#label-set', '');
    assert.equal(await page.isVisible('#labels'), true);
  });

  it('shows the API\'s error message for a file that is not an image', async () => {
    await page.selectOption('#model', CLASSIFIER);
    await page.setInputFiles('#file', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('this is not an image\n') });
    await page.click('#run');
    await page.waitForSelector('#error:not([hidden])');
    const text = (await page.textContent('#error')) ?? '';
    assert.match(text, /INVALID_IMAGE: bytes are not an image in a supported format/);
    assert.equal(await page.isVisible('#result'), false, 'no stale result beside the error');
    await page.screenshot({ path: join(shots, 'error.png'), fullPage: true });
  });

  it('loads a bundled sample image by clicking it', async () => {
    await page.click('[data-sample="blue-star.png"]');
    await page.waitForFunction(() => document.querySelector('#file-name')?.textContent === 'blue-star.png');
    await page.click('#run');
    await page.waitForSelector('#result:not([hidden])');
    assert.equal((await shownLabels())[0], 'blue_star');
    assert.match((await page.textContent('#curl')) ?? '', /image=@src\/server\/static\/samples\/blue-star\.png/);
    const { stdout } = await promisify(execFile)('bash', ['-c', (await page.textContent('#curl')) ?? ''], { cwd: REPO_ROOT });
    assert.equal((JSON.parse(stdout) as Scored).labels[0]!.label, 'blue_star');
  });

  it('lists every model with state, provider, batching and I/O', async () => {
    const rows = await page.locator('#models tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
    const byName = new Map(rows.map((r) => [r[0], r]));
    assert.deepEqual([...byName.keys()].sort(), [CLIP, CLASSIFIER].sort());
    const row = byName.get(CLASSIFIER)!;
    assert.deepEqual(row.slice(1, 5), ['image-classifier', 'READY', '1 (default)', 'cpu']);
    assert.match(row[5]!, /max \d+, [\d.]+ ms delay/);
    assert.equal(row[6], 'input → logits');
  });

  it('Swagger UI at /docs renders every operation of the document, offline', async () => {
    const doc = (await (await fetch(`${gw.http}/openapi.json`)).json()) as { paths: Record<string, object> };
    const operations = Object.values(doc.paths).reduce((n, methods) => n + Object.keys(methods).length, 0);
    const docsPage = await browser.context.newPage();
    const errors: string[] = [];
    docsPage.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    docsPage.on('request', (r) => {
      if (!r.url().startsWith(gw.http) && !r.url().startsWith('data:')) errors.push(`off-host ${r.url()}`);
    });
    await docsPage.goto(`${gw.http}/docs`);
    await docsPage.waitForSelector('.opblock', { timeout: STEP_TIMEOUT_MS });
    const shown = await docsPage.locator('.opblock-summary-path').evaluateAll((els) => els.map((e) => e.getAttribute('data-path')));
    // An operation with two tags is listed under both.
    assert.ok(shown.length >= operations, JSON.stringify(shown));
    assert.deepEqual([...new Set(shown)].sort(), Object.keys(doc.paths).sort());
    assert.deepEqual(errors, []);
    await docsPage.screenshot({ path: join(shots, 'docs.png') });
    await docsPage.close();
  });

  it('loaded nothing from another host and logged no script errors', () => {
    assert.deepEqual(offHost, []);
    // The non-image upload is the one failed request, and its console line the only error.
    assert.deepEqual(failed, ['400 POST /v1/classify']);
    assert.deepEqual(consoleErrors.filter((e) => !/status of 400/.test(e)), []);
  });
});

describe('playground page with API keys on', () => {
  const KEY = 'playground-test-key';
  let gw: TestGateway;
  let browser: TestBrowser;

  before(async () => {
    gw = await startTestGateway(await makeRepository([{ from: join(ZOO_MODELS, CLASSIFIER) }]), { apiKeys: [{ name: 'web', sha256: hashApiKey(KEY), models: ['*'], requestsPerSecond: 0, burst: 10 }] });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await gw?.stop();
  });

  it('says a key is needed, then lists models and classifies with the key, which the commands read from $GATEWAY_API_KEY', async () => {
    const page = await browser.context.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    await page.goto(`${gw.http}/`);
    await page.waitForSelector('#error:not([hidden])');
    assert.match((await page.textContent('#error')) ?? '', /cannot list models: UNAUTHENTICATED: missing credentials/);
    assert.equal(await page.isVisible('header nav'), false, 'the docs links hide while the docs need a key');

    await page.click('#settings summary');
    await page.fill('#api-key', KEY);
    await page.press('#api-key', 'Enter');
    await page.waitForSelector(`#model option[value="${CLASSIFIER}"]`, { state: 'attached' });
    assert.equal(await page.isVisible('#error'), false);
    await page.setInputFiles('#file', GOLDEN);
    await page.click('#run');
    await page.waitForSelector('#result:not([hidden])');
    assert.equal((await shownLabelsOf(page))[0], 'red_cross');
    const curl = (await page.textContent('#curl')) ?? '';
    assert.match(curl, /-H "authorization: Bearer \$GATEWAY_API_KEY"/);
    assert.ok(!curl.includes(KEY) && !((await page.textContent('#grpc')) ?? '').includes(KEY), 'the key itself is never printed');
    const { stdout } = await promisify(execFile)('bash', ['-c', curl], { cwd: join(ZOO_MODELS, CLASSIFIER, '1', 'golden'), env: { ...process.env, GATEWAY_API_KEY: KEY } });
    assert.equal((JSON.parse(stdout) as Scored).labels[0]!.label, 'red_cross');
    await page.close();
  });
});

function shownLabelsOf(page: Page): Promise<string[]> {
  return page.locator('#bars .bar-row').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset['label'] ?? ''));
}
