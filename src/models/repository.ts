// The model repository (Triton-style): scans `<modelsDir>/<name>/model.json` and numbered
// version folders, loads every version with the loader of its kind, tracks each one's state
// and reason, and resolves (name, version?) for requests. A bad manifest or graph makes only
// that model or version UNAVAILABLE; the rest of the zoo serves.
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { GatewayError } from '../errors.js';
import type { ModelState } from '../metrics.js';
import { ClassifierVersion } from './classifier.js';
import { type Manifest, parseManifest } from './manifest.js';
import type { LoadContext, ServedVersion, VersionInfo } from './served.js';

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
  readonly versions: Map<string, VersionEntry>;
}

/** A model's summary for ListModels and /v1/models. */
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
};

export function registerLoader(kind: Manifest['kind'], loader: Loader): void {
  LOADERS[kind] = loader;
}

const VERSION_DIR = /^[1-9][0-9]{0,8}$/;

export class ModelRepository {
  private readonly models = new Map<string, ModelEntry>();
  private loaded = false;

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
    let names: string[];
    try {
      const entries = await readdir(this.root, { withFileTypes: true });
      names = entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
    } catch (err) {
      throw new Error(`cannot read model repository ${this.root}: ${(err as Error).message}`, { cause: err });
    }
    await Promise.all(names.map((name) => this.loadModel(name)));
    this.loaded = true;
  }

  private async loadModel(name: string): Promise<void> {
    const modelDir = join(this.root, name);
    const entry: ModelEntry = { name, kind: 'unknown', description: '', reason: '', versions: new Map() };
    this.models.set(name, entry);
    const ctx = this.context(name, modelDir);
    let manifest: Manifest;
    let versions: string[];
    try {
      manifest = parseManifest(await readJson(join(modelDir, 'model.json')), name);
      entry.kind = manifest.kind;
      entry.description = manifest.description;
      const dirents = await readdir(modelDir, { withFileTypes: true });
      versions = dirents.filter((d) => d.isDirectory() && VERSION_DIR.test(d.name)).map((d) => d.name);
      versions.sort((a, b) => Number(a) - Number(b));
      if (versions.length === 0) throw new Error(`no version folders (1, 2, ...) in ${modelDir}`);
    } catch (err) {
      entry.reason = (err as Error).message;
      ctx.logger.error({ model: name, reason: entry.reason }, 'model unavailable');
      ctx.metrics.setModelState(name, '', 'UNAVAILABLE');
      return;
    }
    await Promise.all(versions.map((v) => this.loadVersion(entry, manifest, v, ctx)));
  }

  private async loadVersion(entry: ModelEntry, modelManifest: Manifest, version: string, ctx: LoadContext): Promise<void> {
    const v: VersionEntry = { version, state: 'LOADING', reason: '', served: undefined };
    entry.versions.set(version, v);
    ctx.metrics.setModelState(entry.name, version, 'LOADING');
    const dir = join(ctx.modelDir, version);
    try {
      const manifest = (await exists(join(dir, 'model.json'))) ? parseManifest(await readJson(join(dir, 'model.json')), entry.name) : modelManifest;
      const loader = LOADERS[manifest.kind];
      if (!loader) throw new Error(`model kind "${manifest.kind}" is not supported by this gateway build`);
      const t0 = Date.now();
      v.served = await loader(manifest, version, dir, ctx);
      v.state = 'READY';
      const info = v.served.info;
      ctx.metrics.modelInfo.set({ model: entry.name, version, kind: info.kind, provider: info.provider }, 1);
      ctx.logger.info({ model: entry.name, version, kind: info.kind, provider: info.provider, batching: info.batching, loadMs: Date.now() - t0 }, 'model version ready');
    } catch (err) {
      v.state = 'UNAVAILABLE';
      v.reason = (err as Error).message;
      ctx.logger.error({ model: entry.name, version, reason: v.reason }, 'model version unavailable');
    }
    ctx.metrics.setModelState(entry.name, version, v.state);
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
    if (model.reason) throw new GatewayError('MODEL_UNAVAILABLE', `model "${name}" is unavailable: ${model.reason}`, { retryAfterSeconds: 30 });
    if (version) {
      const v = model.versions.get(version);
      if (!v) throw new GatewayError('VERSION_NOT_FOUND', `model "${name}" has no version "${truncate(version)}"; versions: ${[...model.versions.keys()].join(', ')}`);
      if (v.state !== 'READY' || !v.served) {
        throw new GatewayError('MODEL_UNAVAILABLE', `model "${name}" version ${version} is ${v.state}${v.reason ? `: ${v.reason}` : ''}`, { retryAfterSeconds: 5 });
      }
      return v.served;
    }
    const ready = [...model.versions.values()].filter((v) => v.state === 'READY' && v.served);
    const latest = ready.sort((a, b) => Number(b.version) - Number(a.version))[0];
    if (!latest) {
      const reasons = [...model.versions.values()].map((v) => `version ${v.version} ${v.state}${v.reason ? `: ${v.reason}` : ''}`).join('; ');
      throw new GatewayError('MODEL_UNAVAILABLE', `model "${name}" has no ready version (${reasons})`, { retryAfterSeconds: 5 });
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
            info: v.served?.info,
            healthy: v.served?.health.healthy ?? v.state === 'READY',
            lastError: v.served?.health.lastError ?? '',
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

async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new Error(`${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

function truncate(s: string, max = 64): string {
  return s.length > max ? `${s.slice(0, max)}...` : s;
}
