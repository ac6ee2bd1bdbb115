// The playground's behaviour: image input (drop, pick, samples), a model picker whose fields follow
// the model's kind (with its registered label sets), the call to the HTTP API, and the answer drawn
// as bars, a timing split and the same request as commands. The sample images are the model zoo's
// golden files (models/shapes-mobilenetv3/1/golden/), procedural shapes this project renders itself.
import { renderBars, renderModels, renderTiming } from './render.js';
import { cliCommand, curlCommand, grpcurlCommand } from './snippets.js';

const $ = (id) => document.getElementById(id);

/** Sample images bundled with the page: [file, what it shows]. */
const SAMPLES = [
  ['red-cross.png', 'red cross'],
  ['green-triangle.png', 'green triangle'],
  ['blue-star.png', 'blue star'],
];
/** Kinds the page can call; other kinds are listed but not selectable. */
const KIND_CALLS = { 'image-classifier': 'classify', clip: 'zero-shot' };
const GRPC_PORT = 50051;

const state = { models: [], labelSets: [], image: undefined, imageName: '', imagePath: '' };

function apiKey() {
  return $('api-key').value.trim();
}

function headers() {
  const key = apiKey();
  return key ? { authorization: `Bearer ${key}` } : {};
}

/** The API's own error message, or what went wrong reaching it. */
async function errorText(res) {
  try {
    const body = await res.json();
    const error = body.error;
    if (typeof error === 'string') return error;
    if (error && error.message) return `${error.code}: ${error.message}`;
  } catch {
    // not JSON: fall through to the status line
  }
  return `HTTP ${res.status} ${res.statusText}`;
}

function showError(text) {
  $('error').textContent = text;
  $('error').hidden = false;
}

function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
}

// ---- models

/** The names of the label sets registered for `model` (GET /v1/label-sets), sorted. */
function labelSetsOf(model) {
  return state.labelSets.filter((s) => s.model === model.name).map((s) => s.name).sort();
}

/** The label sets the caller may use; none when the list cannot be read (the typed labels still work). */
async function loadLabelSets() {
  const res = await fetch('v1/label-sets', { headers: headers() });
  state.labelSets = res.ok ? ((await res.json()).label_sets ?? []) : [];
}

async function loadModels() {
  const res = await fetch('v1/models', { headers: headers() });
  if (!res.ok) {
    showError(`cannot list models: ${await errorText(res)}`);
    return;
  }
  const previous = $('model').value;
  state.models = (await res.json()).models ?? [];
  await loadLabelSets();
  const select = $('model');
  select.replaceChildren();
  for (const m of state.models) {
    const callable = KIND_CALLS[m.kind] !== undefined && m.state === 'READY';
    const option = new Option(`${m.name} (${m.kind}${m.state === 'READY' ? '' : `, ${m.state}`})`, m.name);
    option.disabled = !callable;
    select.append(option);
  }
  const firstUsable = state.models.find((m) => KIND_CALLS[m.kind] && m.state === 'READY');
  select.value = state.models.some((m) => m.name === previous) ? previous : (firstUsable?.name ?? '');
  renderModels($('models').tBodies[0], state.models);
  onModelChange();
}

function currentModel() {
  return state.models.find((m) => m.name === $('model').value);
}

function onModelChange() {
  const model = currentModel();
  const clip = model?.kind === 'clip';
  $('classifier-fields').hidden = clip;
  $('clip-fields').hidden = !clip;
  $('model-note').textContent = model ? model.description : 'no model ready';
  const sets = clip ? labelSetsOf(model) : [];
  const picked = $('label-set').value;
  $('label-set-row').hidden = sets.length === 0;
  $('label-set').replaceChildren(new Option('(the labels typed below)', ''), ...sets.map((s) => new Option(s, s)));
  if (sets.includes(picked)) $('label-set').value = picked;
  onLabelSetChange();
}

/** A label set brings its own labels and templates: the typed ones hide while one is picked. */
function onLabelSetChange() {
  $('typed-labels').hidden = $('label-set').value !== '';
  updateRunButton();
}

function updateRunButton() {
  const model = currentModel();
  $('run').disabled = !state.image || !model || !KIND_CALLS[model.kind];
}

// ---- image input

function setImage(blob, name, path) {
  state.image = blob;
  state.imageName = name;
  state.imagePath = path;
  const preview = $('preview');
  if (preview.src) URL.revokeObjectURL(preview.src);
  preview.src = URL.createObjectURL(blob);
  preview.hidden = false;
  $('file-name').textContent = name;
  updateRunButton();
}

function setupImageInput() {
  $('file').addEventListener('change', () => {
    const file = $('file').files[0];
    if (file) setImage(file, file.name, file.name);
  });
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const file = e.dataTransfer?.files[0];
    if (file) setImage(file, file.name, file.name);
  });
  for (const [file, title] of SAMPLES) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'sample';
    button.title = title;
    button.dataset.sample = file;
    const img = document.createElement('img');
    img.src = `samples/${file}`;
    img.alt = title;
    button.append(img);
    button.addEventListener('click', async () => {
      const res = await fetch(`samples/${file}`);
      setImage(await res.blob(), file, `src/server/static/samples/${file}`);
    });
    $('samples').append(button);
  }
}

// ---- the call

/** The form fields of the request, in the order they are sent, for the current model and inputs. */
function requestFields(model) {
  const fields = [['model', model.name]];
  if (model.kind === 'clip') {
    const set = $('label-set').value;
    if (set) {
      fields.push(['label_set', set]);
    } else {
      fields.push(['labels', $('labels').value]);
      for (const t of $('templates').value.split('\n').map((l) => l.trim()).filter(Boolean)) fields.push(['templates', t]);
    }
    if ($('multi-label').checked) fields.push(['multi_label', 'true']);
    if ($('zs-top-k').value) fields.push(['top_k', $('zs-top-k').value]);
  } else if ($('top-k').value) {
    fields.push(['top_k', $('top-k').value]);
  }
  return fields;
}

async function run() {
  const model = currentModel();
  if (!model || !state.image) return;
  const call = KIND_CALLS[model.kind];
  const request = { call, path: `/v1/${call}`, fields: requestFields(model), file: state.imagePath, withKey: apiKey() !== '' };
  const form = new FormData();
  form.append('image', state.image, state.imageName);
  for (const [name, value] of request.fields) form.append(name, value);

  clearError();
  $('run').disabled = true;
  $('run').textContent = 'Running…';
  showSnippets(request);
  try {
    const res = await fetch(request.path.slice(1), { method: 'POST', body: form, headers: headers() });
    if (!res.ok) {
      $('result').hidden = true;
      showError(await errorText(res));
      return;
    }
    showResult(await res.json());
  } catch (err) {
    showError(`the gateway could not be reached: ${err.message}`);
  } finally {
    $('run').textContent = 'Run';
    updateRunButton();
  }
}

function showResult(body) {
  $('result-title').textContent = `${body.model} v${body.version}`;
  renderBars($('bars'), body.labels);
  renderTiming($('timing'), body.timing);
  const cache = body.cache ? ` · prompt cache ${body.cache.hits} hits, ${body.cache.misses} misses` : '';
  const truncated = body.truncated?.length ? ` · truncated: ${body.truncated.join(', ')}` : '';
  $('meta').textContent = `batch size ${body.batch_size}${cache}${truncated} · request ${body.request_id}`;
  $('result').hidden = false;
}

function showSnippets(request) {
  const tls = location.protocol === 'https:';
  const grpcAddress = `${location.hostname.includes(':') ? `[${location.hostname}]` : location.hostname}:${GRPC_PORT}`;
  $('curl').textContent = curlCommand(request, location.origin);
  $('grpc').textContent = `# gateway-cli (this package's CLI; the gRPC port is ${GRPC_PORT} by default)\n${cliCommand(request, grpcAddress)}\n\n# grpcurl\n${grpcurlCommand(request, grpcAddress, tls)}`;
  $('snippets').hidden = false;
}

async function copy(button, text) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = 'copied';
  } catch {
    // No clipboard (an insecure origin): select the text for the user to copy.
    const range = document.createRange();
    range.selectNodeContents(button.closest('.snippet').querySelector('pre'));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    button.textContent = 'selected: press Ctrl+C';
  }
  setTimeout(() => (button.textContent = `copy as ${button.dataset.copy === 'curl' ? 'curl' : 'gRPC'}`), 2000);
}

// ---- start

function start() {
  $('api-key').value = sessionStorage.getItem('gateway-api-key') ?? '';
  $('api-key').addEventListener('change', () => {
    sessionStorage.setItem('gateway-api-key', apiKey());
    clearError();
    void loadModels();
  });
  $('model').addEventListener('change', onModelChange);
  $('label-set').addEventListener('change', onLabelSetChange);
  $('run').addEventListener('click', () => void run());
  $('refresh-models').addEventListener('click', () => void loadModels());
  for (const button of document.querySelectorAll('[data-copy]')) {
    button.addEventListener('click', () => void copy(button, $(button.dataset.copy).textContent));
  }
  setupImageInput();
  void loadModels();
  // The docs links go when the gateway serves no docs (or needs a key for them).
  void fetch('openapi.json', { method: 'HEAD', headers: headers() }).then((res) => {
    if (!res.ok) document.querySelector('header nav').hidden = true;
  });
}

start();
