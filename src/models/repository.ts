// The model repository (Triton-style): scans `<modelsDir>/<name>/model.json` and numbered
// version folders, loads every version with the loader of its kind, tracks each one's state
// and reason, and resolves (name, version?) for requests. A bad manifest or graph makes only
// that model or version UNAVAILABLE; the rest of the zoo serves.
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { GatewayError } from '../errors.js';
import { redactPaths } from '../redact.js';
import type { ModelState } from '../metrics.js';
import { ClassifierVersion } from './classifier.js';
import { ClipVersion } from './clip.js';
import { readHfClipLayout } from './hf-clip.js';
import { type Manifest, parseManifest } from './manifest.js';
import type { LoadContext, ServedVersion, VersionInfo } from './served.js';
import { TensorVersion } from './tensor.js';

export interface VersionEntry {
  readonly version: string;
  state: ModelState;
  reason: string;
  served: ServedVersion | undefined;
}

export interface ModelEntry {
  readonly name: string;
  kind: Manifest['kind'] | 'unknown';
  description: string;
  /** Set when the model as a whole could not be read (bad manifest, no versions). */
  reason: string;
  /** model.json as last loaded, to notice changes on reload. */
  manifestText: string | undefined;
  /** A Hugging Face CLIP export sits in the model folder itself: served as version 1 from there. */
  flat?: boolean;
  readonly versions: Map<string, VersionEntry>;
}

/** A model's summary for ListModels and /v1/models; its texts are client-safe (no server paths). */
export interface ModelStatus {
  readonly name: string;
  readonly kind: string;
  readonly description: string;
  readonly state: ModelState;
  readonly reason: string;
  readonly defaultVersion: string;
  readonly versions: readonly {
    readonly version: string;
    readonly state: ModelState;
    readonly reason: string;
    readonly info: VersionInfo | undefined;
    /** False while the version fails batch after batch (it keeps serving). */
    readonly healthy: boolean;
    readonly lastError: string;
  }[];
}

type Loader = (manifest: Manifest, version: string, dir: string, ctx: LoadContext) => Promise<ServedVersion>;

/** Loaders by manifest kind; a kind without one is reported, not crashed on. */
const LOADERS: Partial<Record<Manifest['kind'], Loader>> = {
  'image-classifier': (m, v, d, c) => ClassifierVersion.load(m as Extract<Manifest, { kind: 'image-classifier' }>, v, d, c),
  clip: (m, v, d, c) => ClipVersion.load(m as Extract<Manifest, { kind: 'clip' }>, v, d, c),
  tensor: (m, v, d, c) => TensorVersion.load(m as Extract<Manifest, { kind: 'tensor' }>, v, d, c),
};

const VERSION_DIR = /^[1-9][0-9]{0,8}$/;

export class ModelRepository {
  private readonly models = new Map<string, ModelEntry>();
  private loaded = false;
  /** Reloads run one at a time, in order. */
  private reloading: Promise<unknown> = Promise.resolve();
  /** Run after every sync, inside the reload (e.g. registering label-set files); must not throw. */
  private readonly afterSync: (() => Promise<void>)[] = [];

  constructor(
    readonly root: string,
    private readonly context: (modelName: string, modelDir: string) => LoadContext,
  ) {}

  /** True once every model finished loading or failed. */
  get ready(): boolean {
    return this.loaded;
  }

  /** Scans the repository and loads every version of every model; never throws for one bad model. */
  async loadAll(): Promise<void> {
    await this.reload();
    this.loaded = true;
  }

  /**
   * Brings the served zoo in line with the disk, without failing a request: new models and
   * version folders load beside the old ones and take new requests once warmed up; versions
   * whose folder is gone (or beyond the manifest's versionPolicy) and removed models are drained,
   * then unloaded; a changed model.json reloads that model's versions and swaps them in.
   */
  reload(): Promise<void> {
    const run = this.reloading.then(() => this.sync());
    this.reloading = run.catch(() => undefined);
    return run;
  }

  /** Adds work to run at the end of every load and reload, before the reload settles. */
  onSynced(work: () => Promise<void>): void {
    this.afterSync.push(work);
  }

  private async sync(): Promise<void> {
    let names: string[];
    try {
      const entries = await readdir(this.root, { withFileTypes: true });
      names = entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
    } catch (err) {
      throw new Error(`cannot read model repository ${this.root}: ${(err as Error).message}`, { cause: err });
    }
    const removed = [...this.models.keys()].filter((name) => !names.includes(name));
    await Promise.all([...names.map((name) => this.syncModel(name)), ...removed.map((name) => this.unloadModel(name))]);
    for (const work of this.afterSync) await work();
  }

  private async syncModel(name: string): Promise<void> {
    const modelDir = join(this.root, name);
    let entry = this.models.get(name);
    if (!entry) {
      entry = { name, kind: 'unknown', description: '', reason: '', manifestText: undefined, versions: new Map() };
      this.models.set(name, entry);
    }
    const ctx = this.context(name, modelDir);
    let manifest: Manifest;
    let manifestText: string;
    let onDisk: string[];
    try {
      // No model.json: a Hugging Face CLIP export (onnx/vision_model.onnx, ...) is served unchanged.
      const hf = (await exists(join(modelDir, 'model.json'))) ? undefined : await readHfClipLayout(modelDir, name);
      manifestText = hf ? hf.text : await readText(join(modelDir, 'model.json'));
      manifest = hf ? hf.manifest : parseManifest(parseJson(manifestText, join(modelDir, 'model.json')), name);
      entry.flat = hf?.flat ?? false;
      const dirents = await readdir(modelDir, { withFileTypes: true });
      onDisk = entry.flat ? ['1'] : dirents.filter((d) => d.isDirectory() && VERSION_DIR.test(d.name)).map((d) => d.name);
      if (onDisk.length === 0) throw new Error(`no version folders (1, 2, ...) in ${modelDir}`);
    } catch (err) {
      const reason = (err as Error).message;
      entry.reason = this.public(reason);
      entry.manifestText = undefined;
      ctx.logger.error({ model: name, reason }, 'model unavailable');
      ctx.metrics.setModelState(name, '', 'UNAVAILABLE');
      // A model whose manifest broke is not served with stale settings: drain what was loaded.
      await Promise.all([...entry.versions.values()].map((v) => this.unloadVersion(entry, v, ctx)));
      return;
    }
    const changed = entry.manifestText !== undefined && entry.manifestText !== manifestText;
    entry.reason = '';
    entry.kind = manifest.kind;
    entry.description = manifest.description;
    entry.manifestText = manifestText;
    ctx.metrics.modelState.remove({ model: name, version: '', state: 'UNAVAILABLE' });

    const toLoad = onDisk.filter((version) => {
      const v = entry.versions.get(version);
      if (v && (v.state === 'LOADING' || v.state === 'UNLOADING')) return false;
      return !(v && v.served && !changed);
    });
    await Promise.all(toLoad.map((version) => this.loadVersion(entry, manifest, version, ctx)));

    // Retire what is no longer wanted, only now that its replacements are warm.
    const ready = [...entry.versions.values()].filter((v) => v.state === 'READY').sort((a, b) => Number(b.version) - Number(a.version));
    const keep = new Set((manifest.versionPolicy === 'all' ? ready : ready.slice(0, manifest.versionPolicy.latest)).map((v) => v.version));
    await Promise.all(
      [...entry.versions.values()]
        .filter((v) => !onDisk.includes(v.version) || (v.state === 'READY' && !keep.has(v.version)))
        .map((v) => this.unloadVersion(entry, v, ctx)),
    );
  }

  /** Loads (or reloads) one version; a reload keeps the old instance serving until the new one is warm. */
  private async loadVersion(entry: ModelEntry, modelManifest: Manifest, version: string, ctx: LoadContext): Promise<void> {
    let v = entry.versions.get(version);
    if (!v) {
      v = { version, state: 'LOADING', reason: '', served: undefined };
      entry.versions.set(version, v);
    }
    const previous = v.served;
    if (!previous) {
      v.state = 'LOADING';
      ctx.metrics.setModelState(entry.name, version, 'LOADING');
    }
    const dir = entry.flat ? ctx.modelDir : join(ctx.modelDir, version);
    try {
      const manifest = (await exists(join(dir, 'model.json'))) ? parseManifest(await readJson(join(dir, 'model.json')), entry.name) : modelManifest;
      const loader = LOADERS[manifest.kind];
      if (!loader) throw new Error(`model kind "${manifest.kind}" is not supported by this gateway build`);
      const t0 = Date.now();
      const served = await loader(manifest, version, dir, ctx);
      v.served = served;
      v.state = 'READY';
      v.reason = '';
      const info = served.info;
      ctx.metrics.modelInfo.set({ model: entry.name, version, kind: info.kind, provider: info.provider }, 1);
      ctx.logger.info({ model: entry.name, version, kind: info.kind, provider: info.provider, batching: info.batching, loadMs: Date.now() - t0, replaced: Boolean(previous) }, 'model version ready');
      if (previous) await previous.close(); // requests already inside it finish first
    } catch (err) {
      const reason = (err as Error).message;
      v.reason = this.public(reason);
      if (previous) {
        ctx.logger.error({ model: entry.name, version, reason }, 'model version reload failed; the loaded one keeps serving');
      } else {
        v.state = 'UNAVAILABLE';
        ctx.logger.error({ model: entry.name, version, reason }, 'model version unavailable');
      }
    }
    ctx.metrics.setModelState(entry.name, version, v.state);
  }

  /** Stops routing to a version, waits for the requests inside it, releases it and forgets it. */
  private async unloadVersion(entry: ModelEntry, v: VersionEntry, ctx: LoadContext): Promise<void> {
    if (v.state === 'UNLOADING') return;
    const served = v.served;
    v.state = 'UNLOADING';
    ctx.metrics.setModelState(entry.name, v.version, 'UNLOADING');
    if (served) {
      await served.close();
      ctx.metrics.modelInfo.remove({ model: entry.name, version: v.version, kind: served.info.kind, provider: served.info.provider });
    }
    entry.versions.delete(v.version);
    ctx.metrics.forgetModelVersion(entry.name, v.version);
    ctx.logger.info({ model: entry.name, version: v.version }, 'model version unloaded');
  }

  /** A model folder disappeared: drain and unload every version, then forget the model. */
  private async unloadModel(name: string): Promise<void> {
    const entry = this.models.get(name);
    if (!entry) return;
    const ctx = this.context(name, join(this.root, name));
    await Promise.all([...entry.versions.values()].map((v) => this.unloadVersion(entry, v, ctx)));
    this.models.delete(name);
    ctx.metrics.modelState.remove({ model: name, version: '', state: 'UNAVAILABLE' });
    ctx.logger.info({ model: name }, 'model unloaded');
  }

  /** Text as clients may see it: paths relative to the repository root, no other server path. */
  private public(text: string): string {
    return redactPaths(text, this.root);
  }

  /** Whether a model of this name exists in the repository (loaded or not). */
  has(name: string): boolean {
    return this.models.has(name);
  }

  /**
   * The served version for a request: `version` if given, else the highest READY one.
   * Throws MODEL_NOT_FOUND, VERSION_NOT_FOUND or MODEL_UNAVAILABLE naming the model.
   */
  resolve(name: string, version?: string): ServedVersion {
    const model = this.models.get(name);
    if (!model) {
      const known = [...this.models.keys()].slice(0, 20).join(', ');
      throw new GatewayError('MODEL_NOT_FOUND', `model "${truncate(name)}" not found; available models: ${known || '(none)'}`);
    }
    // A model that failed to load stays failed until its files change: no retry-after. One that is
    // loading or unloading is a passing state: retry-after says when to try again.
    if (model.reason) throw new GatewayError('MODEL_UNAVAILABLE', `model "${name}" is unavailable: ${model.reason}`);
    if (version) {
      const v = model.versions.get(version);
      if (!v) throw new GatewayError('VERSION_NOT_FOUND', `model "${name}" has no version "${truncate(version)}"; versions: ${[...model.versions.keys()].join(', ')}`);
      if (v.state !== 'READY' || !v.served) {
        throw new GatewayError('MODEL_UNAVAILABLE', `model "${name}" version ${version} is ${v.state}${v.reason ? `: ${v.reason}` : ''}`, passing([v]));
      }
      return v.served;
    }
    const ready = [...model.versions.values()].filter((v) => v.state === 'READY' && v.served);
    const latest = ready.sort((a, b) => Number(b.version) - Number(a.version))[0];
    if (!latest) {
      const versions = [...model.versions.values()];
      const reasons = versions.map((v) => `version ${v.version} ${v.state}${v.reason ? `: ${v.reason}` : ''}`).join('; ');
      throw new GatewayError('MODEL_UNAVAILABLE', `model "${name}" has no ready version (${reasons})`, passing(versions));
    }
    return latest.served!;
  }

  /** Summaries of every model, sorted by name. */
  list(): ModelStatus[] {
    return [...this.models.values()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((m) => {
        const versions = [...m.versions.values()].sort((a, b) => Number(a.version) - Number(b.version));
        const ready = versions.filter((v) => v.state === 'READY');
        const loading = versions.some((v) => v.state === 'LOADING');
        const state: ModelState = m.reason ? 'UNAVAILABLE' : ready.length > 0 ? 'READY' : loading ? 'LOADING' : 'UNAVAILABLE';
        const reason = m.reason || (state === 'UNAVAILABLE' ? versions.map((v) => `version ${v.version}: ${v.reason}`).join('; ') : '');
        return {
          name: m.name,
          kind: m.kind,
          description: m.description,
          state,
          reason,
          defaultVersion: ready.at(-1)?.version ?? '',
          versions: versions.map((v) => ({
            version: v.version,
            state: v.state,
            reason: v.reason,
            info: v.served ? { ...v.served.info, providerNote: v.served.info.providerNote === undefined ? undefined : this.public(v.served.info.providerNote) } : undefined,
            healthy: v.served?.health.healthy ?? v.state === 'READY',
            lastError: this.public(v.served?.health.lastError ?? ''),
          })),
        };
      });
  }

  /** All served versions (for draining on shutdown). */
  servedVersions(): ServedVersion[] {
    const all: ServedVersion[] = [];
    for (const m of this.models.values()) for (const v of m.versions.values()) if (v.served) all.push(v.served);
    return all;
  }

  /** Requests queued or running across the zoo. */
  get pending(): number {
    return this.servedVersions().reduce((sum, v) => sum + v.pending, 0);
  }

  /** Drains every version and releases its sessions. */
  async close(): Promise<void> {
    await Promise.allSettled(this.servedVersions().map((v) => v.close()));
  }
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}

function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new Error(`${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

async function readJson(path: string): Promise<unknown> {
  return parseJson(await readText(path), path);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** A retry hint when some version is on its way (loading, or unloading to be replaced); none for a failed load. */
function passing(versions: readonly VersionEntry[]): { retryAfterSeconds?: number } {
  return versions.some((v) => v.state === 'LOADING' || v.state === 'UNLOADING') ? { retryAfterSeconds: 5 } : {};
}

function truncate(s: string, max = 64): string {
  return s.length > max ? `${s.slice(0, max)}...` : s;
}
