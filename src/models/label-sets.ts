// The label-set registry of one gateway: named, registered vocabularies per clip model, from
// files (models/<model>/labelsets/<name>.txt, read at load and on every repository reload) or
// from the admin API. A set's text embeddings are encoded at registration for every served
// version of its model and kept as one matrix per version; the matrices are keyed by the loaded
// version instance and the set's content hash, so a reload that keeps a version and a file
// unchanged encodes nothing. Registration is atomic: the new definition replaces the old one only
// once every version's matrix is ready; a failure leaves the old set serving.
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { GatewayError } from '../errors.js';
import { ClipVersion, type EncodedLabelSet } from './clip.js';
import { type LabelSetDefinition, type LabelSetLimits, labelSetHash, parseLabelSetText } from './label-set-file.js';
import { LabelSetGemm } from './label-set-gemm.js';
import { type LabelMatrix, matVec } from './label-set-scores.js';
import type { ModelRepository } from './repository.js';

/** Where a set was registered from: a file in the model folder, or PUT /v1/label-sets/:name. */
export type LabelSetSource = 'file' | 'api';

export interface RegisteredLabelSet {
  readonly model: string;
  readonly name: string;
  readonly source: LabelSetSource;
  readonly definition: LabelSetDefinition;
  /** Hex SHA-256 of templates and labels. */
  readonly hash: string;
  readonly registeredAt: string;
}

/** A label-set file that could not be registered (the previous set of that name, if any, still serves). */
export interface LabelSetFileError {
  readonly model: string;
  readonly name: string;
  readonly error: string;
}

export interface LabelSetRegistryOptions extends LabelSetLimits {
  /** Prompts per encoding chunk (one progress log line per chunk at most once a second). */
  readonly chunkPrompts: number;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,127}$/;
const FILE = /^(.+)\.txt$/;

export class LabelSetRegistry {
  private readonly sets = new Map<string, Map<string, RegisteredLabelSet>>();
  private readonly fileErrors = new Map<string, LabelSetFileError>();
  /** Per loaded version instance: content hash -> its matrix (encoding or encoded). */
  private readonly encoded = new WeakMap<ClipVersion, Map<string, { at: string; set: Promise<EncodedLabelSet> }>>();
  /** Registrations run one at a time, so the last one asked for wins. */
  private writing: Promise<unknown> = Promise.resolve();
  /** The onnxruntime Gemm scoring every set; undefined = not opened yet, null = unavailable (JS loop). */
  private gemm: Promise<LabelSetGemm | null> | undefined;

  constructor(
    private readonly repository: Pick<ModelRepository, 'root' | 'list' | 'servedVersions'>,
    private readonly options: LabelSetRegistryOptions,
    private readonly logger: Logger,
  ) {}

  get limits(): LabelSetLimits {
    return this.options;
  }

  /**
   * Registers (or replaces) `name` for `model`: encodes it for every served version, then swaps
   * it in. Throws (leaving any previous set of that name in place) on any failure.
   */
  put(model: string, name: string, definition: LabelSetDefinition, source: LabelSetSource, deadline?: { startedAtMs: number; timeoutMs: number }): Promise<RegisteredLabelSet> {
    const run = this.writing.then(async () => {
      checkName(name);
      const versions = this.versionsOf(model);
      if (versions.length === 0) throw new GatewayError('MODEL_UNAVAILABLE', `model "${model}" has no ready clip version to encode label set "${name}" with`);
      const hash = labelSetHash(definition);
      const registered: RegisteredLabelSet = { model, name, source, definition, hash, registeredAt: new Date().toISOString() };
      try {
        await Promise.all(versions.map((v) => this.encode(v, registered, deadline)));
      } catch (err) {
        this.prune(model);
        throw err;
      }
      let byName = this.sets.get(model);
      if (!byName) this.sets.set(model, (byName = new Map<string, RegisteredLabelSet>()));
      const previous = byName.get(name);
      byName.set(name, previous?.hash === hash && previous.source === source ? previous : registered);
      this.prune(model);
      return byName.get(name)!;
    });
    this.writing = run.catch(() => undefined);
    return run;
  }

  /** Removes `name` from `model`; false when there was none. */
  async delete(model: string, name: string): Promise<boolean> {
    const run = this.writing.then(() => {
      const removed = this.sets.get(model)?.delete(name) ?? false;
      this.prune(model);
      return removed;
    });
    this.writing = run.catch(() => undefined);
    return run;
  }

  get(model: string, name: string): RegisteredLabelSet | undefined {
    return this.sets.get(model)?.get(name);
  }

  list(): RegisteredLabelSet[] {
    return [...this.sets.values()].flatMap((m) => [...m.values()]).sort((a, b) => a.model.localeCompare(b.model) || a.name.localeCompare(b.name));
  }

  errors(): LabelSetFileError[] {
    return [...this.fileErrors.values()];
  }

  /** When each served version of the set's model got its matrix (ISO time), by version; absent = not encoded yet. */
  encodedAt(set: RegisteredLabelSet): Record<string, string> {
    const out: Record<string, string> = {};
    for (const v of this.versionsOf(set.model)) {
      const entry = this.encoded.get(v)?.get(set.hash);
      if (entry) out[v.info.version] = entry.at;
    }
    return out;
  }

  /** similarities[i] = row i . image: onnxruntime's Gemm, or the JS loop if it cannot be opened. */
  readonly similarities = async (set: LabelMatrix, image: Float32Array): Promise<Float32Array> => {
    this.gemm ??= LabelSetGemm.create().catch((err: unknown) => {
      this.logger.warn({ err: (err as Error).message }, 'label-set Gemm session could not be opened; scoring label sets in JS');
      return null;
    });
    const gemm = await this.gemm;
    return gemm ? gemm.similarities(set, image) : matVec(set, image);
  };

  /** Releases the scoring session. */
  async close(): Promise<void> {
    const gemm = await this.gemm;
    this.gemm = undefined;
    await gemm?.release();
  }

  /** The matrix of `name` for the version serving a request; NOT_FOUND naming the registered sets. */
  resolve(served: ClipVersion, name: string): Promise<EncodedLabelSet> {
    const set = this.get(served.info.model, name);
    if (!set) {
      const known = [...(this.sets.get(served.info.model)?.keys() ?? [])].slice(0, 20).join(', ');
      throw new GatewayError('NOT_FOUND', `label set "${name.slice(0, 128)}" is not registered for model "${served.info.model}"; registered: ${known || '(none)'}`);
    }
    // A version loaded after registration encodes the set on its first request.
    return this.encode(served, set, undefined);
  }

  /**
   * Reads every clip model's labelsets/*.txt and registers what changed; a bad file is logged
   * with its line number and listed by errors(), and the set it would replace keeps serving.
   * File sets whose file is gone are removed; every set is encoded for versions loaded since. Never throws.
   */
  async syncFiles(): Promise<void> {
    const clipModels = this.repository.list().filter((m) => m.kind === 'clip' && m.state === 'READY').map((m) => m.name);
    for (const model of clipModels) {
      const dir = join(this.repository.root, model, 'labelsets');
      const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => FILE.test(f)).sort();
      const names = new Set(files.map((f) => FILE.exec(f)![1]!));
      for (const file of files) {
        const name = FILE.exec(file)![1]!;
        const key = `${model}/${name}`;
        try {
          const definition = parseLabelSetText(await readFile(join(dir, file), 'utf8'), this.options);
          await this.put(model, name, definition, 'file');
          this.fileErrors.delete(key);
        } catch (err) {
          const error = `labelsets/${file}: ${(err as Error).message}`;
          this.fileErrors.set(key, { model, name, error });
          this.logger.error({ model, labelSet: name, err: error }, 'label set file refused; the previous set of that name (if any) keeps serving');
        }
      }
      for (const set of this.sets.get(model)?.values() ?? []) {
        if (set.source === 'file' && !names.has(set.name)) {
          await this.delete(model, set.name);
          this.logger.info({ model, labelSet: set.name }, 'label set file removed; set unregistered');
        }
      }
      for (const key of this.fileErrors.keys()) if (key.startsWith(`${model}/`) && !names.has(key.slice(model.length + 1))) this.fileErrors.delete(key);
      await this.encodeForAllVersions(model);
    }
  }

  /** Encodes every registered set of `model` for versions loaded since it was registered (cached ones cost nothing). */
  private encodeForAllVersions(model: string): Promise<void> {
    const run = this.writing.then(async () => {
      for (const set of this.sets.get(model)?.values() ?? []) {
        await Promise.all(this.versionsOf(model).map((v) => this.encode(v, set, undefined))).catch((err: unknown) =>
          this.logger.error({ model, labelSet: set.name, err: (err as Error).message }, 'label set could not be encoded for a newly loaded version; it will be on its first request'),
        );
      }
    });
    this.writing = run.catch(() => undefined);
    return run;
  }

  private versionsOf(model: string): ClipVersion[] {
    return this.repository.servedVersions().filter((v): v is ClipVersion => v instanceof ClipVersion && v.info.model === model);
  }

  private encode(version: ClipVersion, set: RegisteredLabelSet, deadline: { startedAtMs: number; timeoutMs: number } | undefined): Promise<EncodedLabelSet> {
    let byHash = this.encoded.get(version);
    if (!byHash) this.encoded.set(version, (byHash = new Map<string, { at: string; set: Promise<EncodedLabelSet> }>()));
    const cached = byHash.get(set.hash);
    if (cached) return cached.set;
    const fields = { model: set.model, version: version.info.version, labelSet: set.name, labels: set.definition.labels.length };
    const t0 = performance.now();
    let loggedAt = t0;
    this.logger.info(fields, 'label set encoding');
    const encoding = version
      .encodeLabelSet(set.definition, {
        chunkSize: this.options.chunkPrompts,
        deadline,
        onProgress: (done, total) => {
          if (done < total && performance.now() - loggedAt < 1000) return;
          loggedAt = performance.now();
          this.logger.info({ ...fields, done, total }, 'label set encoding progress');
        },
      })
      .then((encoded) => {
        this.logger.info({ ...fields, ms: Math.round(performance.now() - t0), bytes: encoded.matrix.byteLength }, 'label set encoded');
        return encoded;
      });
    const entry = { at: new Date().toISOString(), set: encoding };
    byHash.set(set.hash, entry);
    // A failed encode is forgotten, so the next registration or request tries again.
    encoding.catch(() => {
      if (byHash.get(set.hash) === entry) byHash.delete(set.hash);
    });
    return encoding;
  }

  /** Drops matrices no registered set of `model` uses any more. */
  private prune(model: string): void {
    const used = new Set([...(this.sets.get(model)?.values() ?? [])].map((s) => s.hash));
    for (const v of this.versionsOf(model)) {
      const byHash = this.encoded.get(v);
      if (byHash) for (const hash of byHash.keys()) if (!used.has(hash)) byHash.delete(hash);
    }
  }
}

/** Label-set names are looked up and used as file names: letters, digits, ".", "_", "-". */
export function checkName(name: string): void {
  if (!NAME.test(name)) throw new GatewayError('INVALID_ARGUMENT', `label set name "${name.slice(0, 64)}" is invalid: letters, digits, ".", "_" or "-", at most 128 characters`);
}
