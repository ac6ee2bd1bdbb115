// A small `kustomize build` for the features deploy/k8s uses (resources, images, patches with a
// strategic merge keyed by `name`), so the test command renders the overlays on machines without
// kustomize. Where `kubectl kustomize` exists, k8s.test.ts checks both agree. Also a CLI:
//   npx tsx test/deploy/kustomize.ts deploy/k8s/overlays/gpu     # print the rendered YAML
//   npx tsx test/deploy/kustomize.ts --prometheusrule            # regenerate base/prometheusrule.yaml
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments, stringify } from 'yaml';

/** One Kubernetes object as parsed from YAML. */
export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; [k: string]: unknown }; [k: string]: unknown };

interface Kustomization {
  resources?: string[];
  images?: { name: string; newName?: string; newTag?: string }[];
  patches?: { path: string }[];
  [k: string]: unknown;
}

const SUPPORTED = new Set(['apiVersion', 'kind', 'resources', 'images', 'patches']);

/** Renders the kustomization in `dir` (a folder holding kustomization.yaml). */
export function build(dir: string): K8sObject[] {
  const k = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as Kustomization;
  const unsupported = Object.keys(k).filter((key) => !SUPPORTED.has(key));
  if (unsupported.length) throw new Error(`${dir}/kustomization.yaml: unsupported fields ${unsupported.join(', ')} (extend test/deploy/kustomize.ts)`);
  const objects: K8sObject[] = [];
  for (const r of k.resources ?? []) {
    const path = resolve(dir, r);
    if (statSync(path).isDirectory()) objects.push(...build(path));
    else objects.push(...readObjects(path));
  }
  for (const p of k.patches ?? []) {
    for (const patch of readObjects(resolve(dir, p.path))) {
      const target = objects.find((o) => o.kind === patch.kind && o.metadata.name === patch.metadata.name && o.apiVersion === patch.apiVersion);
      if (!target) throw new Error(`${dir}: patch ${p.path} matches no ${patch.kind}/${patch.metadata.name}`);
      objects[objects.indexOf(target)] = strategicMerge(target, patch) as K8sObject;
    }
  }
  for (const image of k.images ?? []) {
    for (const o of objects) for (const c of podContainers(o)) {
      const ref = String(c['image']);
      const name = ref.replace(/@.*$/, '').replace(/:[^/:]*$/, '');
      if (name !== image.name) continue;
      const tag = ref.slice(name.length);
      c['image'] = (image.newName ?? name) + (image.newTag !== undefined ? `:${image.newTag}` : tag);
    }
  }
  return objects;
}

/** Every document of a YAML file. */
export function readObjects(path: string): K8sObject[] {
  return parseAllDocuments(readFileSync(path, 'utf8'))
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

/** The containers (and init containers) of a workload's pod template. */
export function podContainers(o: K8sObject): Record<string, unknown>[] {
  const spec = ((o['spec'] as Record<string, unknown> | undefined)?.['template'] as Record<string, unknown> | undefined)?.['spec'] as Record<string, unknown> | undefined;
  if (!spec) return [];
  return [...((spec['containers'] as Record<string, unknown>[] | undefined) ?? []), ...((spec['initContainers'] as Record<string, unknown>[] | undefined) ?? [])];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNamedList = (v: unknown): v is Record<string, unknown>[] => Array.isArray(v) && v.length > 0 && v.every((e) => isObject(e) && typeof e['name'] === 'string');

/**
 * Strategic merge as kustomize applies it to the fields deploy/k8s patches: maps merge, lists of
 * objects with a `name` (containers, env, volumes, volumeMounts) merge by name, other lists and
 * scalars are replaced.
 */
export function strategicMerge(base: unknown, patch: unknown): unknown {
  if (isObject(base) && isObject(patch)) {
    const out: Record<string, unknown> = { ...base };
    for (const [key, value] of Object.entries(patch)) out[key] = key in base ? strategicMerge(base[key], value) : value;
    return out;
  }
  if (isNamedList(base) && isNamedList(patch)) {
    const out = base.map((item) => {
      const p = patch.find((e) => e['name'] === item['name']);
      return p ? strategicMerge(item, p) : item;
    });
    return [...patch.filter((p) => !base.some((b) => b['name'] === p['name'])), ...out];
  }
  return patch;
}

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The PrometheusRule object holding deploy/prometheus/rules.yaml. */
export function prometheusRule(): Record<string, unknown> {
  const rules = parse(readFileSync(join(REPO_ROOT, 'deploy/prometheus/rules.yaml'), 'utf8')) as Record<string, unknown>;
  return { apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule', metadata: { name: 'inference-gateway', labels: { 'app.kubernetes.io/name': 'inference-gateway' } }, spec: rules };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = process.argv[2] ?? '';
  if (arg === '--prometheusrule') {
    const header = '# GENERATED from deploy/prometheus/rules.yaml (the test command checks they match): the same groups\n# for the Prometheus Operator. Regenerate: npx tsx test/deploy/kustomize.ts --prometheusrule\n';
    writeFileSync(join(REPO_ROOT, 'deploy/k8s/base/prometheusrule.yaml'), header + stringify(prometheusRule(), { lineWidth: 0 }));
  } else {
    process.stdout.write(build(resolve(arg || dirname('.'))).map((o) => stringify(o, { lineWidth: 0 })).join('---\n'));
  }
}
