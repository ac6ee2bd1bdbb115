// deploy/k8s: both overlays render (kustomize-equivalent, and equal to `kubectl kustomize` where
// it exists), every object validates against the Kubernetes OpenAPI schemas shipped by the pinned
// kubernetes-models package (and the Prometheus Operator CRD schemas of
// @kubernetes-models/prometheus-operator), and the pieces agree with each other and with the
// gateway: ports, probes, drain timing, selectors, HPA metric vs adapter rule, config schema.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type IPrometheusRule, type IServiceMonitor, PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler, type IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { type IPodDisruptionBudget, PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, type IConfigMap, type IPersistentVolumeClaim, type IService, PersistentVolumeClaim, Service } from 'kubernetes-models/v1';
import { parse, parseAllDocuments } from 'yaml';
import { parseConfig } from '../../src/config.js';
import { REPO_ROOT } from '../helpers/gateway.js';
import { type K8sObject, build, prometheusRule, readObjects } from './kustomize.js';

const K8S = join(REPO_ROOT, 'deploy', 'k8s');
const OVERLAYS = ['cpu', 'gpu'] as const;

/** kind -> model class whose validate() checks an object against the pinned OpenAPI schema. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};

type Obj = Record<string, unknown>;

/** The one object of a kind (and name), typed as the model's interface. */
function find<T>(objects: K8sObject[], kind: string, name?: string): T {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  assert.equal(found.length, 1, `exactly one ${kind}${name ? `/${name}` : ''}`);
  return found[0] as unknown as T;
}

/** Canonical form for comparing renderings: lists of named objects sorted by name. */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) {
    const items = v.map(canonical);
    return items.every((e) => typeof e === 'object' && e !== null && typeof (e as Obj)['name'] === 'string') ? [...items].sort((a, b) => String((a as Obj)['name']).localeCompare(String((b as Obj)['name']))) : items;
  }
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)).map(([k, x]) => [k, canonical(x)]));
  return v;
}

function kubectlKustomize(dir: string): K8sObject[] | undefined {
  const probe = spawnSync('kubectl', ['kustomize', '--help'], { stdio: 'ignore' });
  if (probe.status !== 0) return undefined;
  const out = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
  return parseAllDocuments(out).map((d) => d.toJS() as K8sObject);
}

function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

describe('kubernetes manifests', () => {
  for (const overlay of OVERLAYS) {
    describe(`overlay ${overlay}`, () => {
      const objects = build(join(K8S, 'overlays', overlay));

      it('validates every object against the pinned OpenAPI schemas', () => {
        assert.ok(objects.length >= 8, `${objects.length} objects`);
        for (const o of objects) {
          const Model = MODELS[`${o.apiVersion}/${o.kind}`];
          assert.ok(Model, `no schema for ${o.apiVersion} ${o.kind}`);
          assert.doesNotThrow(() => new Model(o as never).validate(), `${o.kind}/${o.metadata.name}`);
        }
      });

      it('renders as kubectl kustomize does', () => {
        const reference = kubectlKustomize(join(K8S, 'overlays', overlay));
        // kubectl ships in this project's machine images; without it the comparison cannot run, and that is a failure, not a skip.
        assert.ok(reference, 'kubectl with kustomize is needed for this check');
        const key = (o: K8sObject): string => `${o.kind}/${o.metadata.name}`;
        assert.deepEqual(objects.map(key).sort(), reference.map(key).sort());
        for (const ref of reference) assert.deepEqual(canonical(objects.find((o) => key(o) === key(ref))), canonical(ref), key(ref));
      });

      it('wires ports, probes, selectors and the drain budget consistently with the gateway config', () => {
        const deployment = find<IDeployment>(objects, 'Deployment', 'inference-gateway');
        const pod = deployment.spec!.template;
        const container = pod.spec!.containers[0]!;
        const configMap = find<IConfigMap>(objects, 'ConfigMap', 'inference-gateway-config');
        const fileConfig = JSON.parse(configMap.data!['config.json']!) as Record<string, unknown>;
        const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value]));
        assert.equal(env['GATEWAY_CONFIG'], '/etc/gateway/config.json');
        assert.equal(container.volumeMounts?.find((m) => m.name === 'config')?.mountPath, '/etc/gateway');
        // The same sources the process reads: the file, then GATEWAY_* env (strings, coerced).
        const envOverrides = Object.fromEntries(
          Object.entries(env)
            .filter(([k]) => k.startsWith('GATEWAY_') && k !== 'GATEWAY_CONFIG')
            .map(([k, v]) => [k.slice('GATEWAY_'.length).toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), v]),
        );
        const config = parseConfig({ ...fileConfig, ...envOverrides });
        assert.equal(config.host, '0.0.0.0', 'must listen beyond loopback in a pod');

        const ports = Object.fromEntries((container.ports ?? []).map((p): [string, number] => [p.name ?? '', p.containerPort]));
        assert.deepEqual(ports, { http: config.httpPort, grpc: config.grpcPort, metrics: config.metricsPort });
        assert.equal(container.livenessProbe?.httpGet?.path, '/healthz');
        assert.equal(container.readinessProbe?.httpGet?.path, '/readyz');
        assert.equal(container.startupProbe?.httpGet?.path, '/healthz', 'startupProbe guards model loading');
        for (const probe of [container.livenessProbe, container.readinessProbe, container.startupProbe]) assert.equal(probe?.httpGet?.port, 'http');
        const startupBudgetSeconds = (container.startupProbe?.periodSeconds ?? 10) * (container.startupProbe?.failureThreshold ?? 3);
        assert.ok(startupBudgetSeconds >= 300, `startupProbe allows ${startupBudgetSeconds}s for model loading`);

        // preStop sleep + drain + margin must fit in the grace period, or the kubelet SIGKILLs mid-drain.
        const preStop = container.lifecycle?.preStop?.exec?.command ?? [];
        assert.equal(preStop[0], 'sleep');
        const preStopSeconds = Number(preStop[1]);
        const grace = pod.spec!.terminationGracePeriodSeconds!;
        assert.ok(preStopSeconds >= 3, 'endpoint removal needs a few seconds to propagate');
        assert.ok(grace >= preStopSeconds + config.drainTimeoutMs / 1000 + 3, `grace ${grace}s < preStop ${preStopSeconds}s + drain ${config.drainTimeoutMs / 1000}s + 3s`);
        assert.ok(grace <= preStopSeconds + config.drainTimeoutMs / 1000 + 15, 'grace period far beyond the drain: slow rollouts for nothing');
        assert.equal(deployment.spec!.strategy?.rollingUpdate?.maxUnavailable, 0, 'rollouts add a ready pod before removing one');

        assert.equal(pod.spec!.securityContext?.runAsNonRoot, true);
        assert.equal(container.securityContext?.readOnlyRootFilesystem, true);
        assert.ok(container.resources?.requests?.['cpu'] !== undefined && container.resources.limits?.['memory'] !== undefined);

        const podLabels = pod.metadata!.labels!;
        assert.ok(matches(deployment.spec!.selector.matchLabels!, podLabels));
        const http = find<IService>(objects, 'Service', 'inference-gateway');
        const headless = find<IService>(objects, 'Service', 'inference-gateway-grpc');
        for (const svc of [http, headless]) {
          assert.ok(matches(svc.spec!.selector!, podLabels), `${svc.metadata!.name} selects the pods`);
          for (const p of svc.spec!.ports!) assert.ok(String(p.targetPort) in ports, `${svc.metadata!.name} port ${p.name} targets a named container port`);
        }
        assert.equal(headless.spec!.clusterIP, 'None');
        assert.deepEqual(headless.spec!.ports!.map((p) => p.targetPort), ['grpc']);
        assert.notEqual(http.spec!.clusterIP, 'None');

        const monitor = find<IServiceMonitor>(objects, 'ServiceMonitor');
        const selected = objects.filter((o) => o.kind === 'Service' && matches(monitor.spec.selector.matchLabels!, (o.metadata['labels'] ?? {}) as Record<string, string>));
        assert.deepEqual(selected.map((o) => o.metadata.name), ['inference-gateway'], 'scraped once, through the HTTP Service');
        assert.ok(http.spec!.ports!.some((p) => p.name === monitor.spec.endpoints[0]!.port));

        const pdb = find<IPodDisruptionBudget>(objects, 'PodDisruptionBudget');
        assert.ok(matches(pdb.spec!.selector!.matchLabels!, podLabels));
        const hpa = find<IHorizontalPodAutoscaler>(objects, 'HorizontalPodAutoscaler');
        assert.ok(hpa.spec, 'the HPA has a spec');
        assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'inference-gateway' });
        assert.ok((hpa.spec.minReplicas ?? 1) >= 1 && hpa.spec.maxReplicas > (hpa.spec.minReplicas ?? 1));
        const adapter = parse(readFileSync(join(K8S, 'prometheus-adapter', 'values.yaml'), 'utf8')) as { rules: { custom: { name: { as: string } }[] } };
        const served = adapter.rules.custom.map((r) => r.name.as);
        for (const m of hpa.spec.metrics!) assert.ok(served.includes(m.pods!.metric.name), `HPA metric ${m.pods!.metric.name} is served by prometheus-adapter`);

        assert.deepEqual(find<IPrometheusRule>(objects, 'PrometheusRule').spec, prometheusRule()['spec'], 'base/prometheusrule.yaml is stale: npx tsx test/deploy/kustomize.ts --prometheusrule');

        assert.match(container.image!, new RegExp(`:[^:/]*${overlay}$`), 'overlay pins its image variant');
        const gpus = container.resources.limits?.['nvidia.com/gpu'];
        if (overlay === 'gpu') {
          assert.equal(gpus, '1');
          assert.equal(container.resources.requests?.['nvidia.com/gpu'], '1');
          assert.equal(config.executionProvider, 'cuda');
          assert.equal(config.modelsDir, '/models');
          const claim = pod.spec!.volumes?.find((v) => v.name === 'models')?.persistentVolumeClaim?.claimName;
          assert.equal(claim, find<IPersistentVolumeClaim>(objects, 'PersistentVolumeClaim').metadata!.name);
        } else {
          assert.equal(gpus, undefined);
          assert.equal(config.executionProvider, 'cpu');
        }
      });
    });
  }

  it('the base alone has no image pin and no GPU', () => {
    const base = build(join(K8S, 'base'));
    const container = find<IDeployment>(base, 'Deployment').spec!.template.spec!.containers[0]!;
    assert.equal(container.image, 'inference-gateway:latest');
    assert.equal(container.resources?.limits?.['nvidia.com/gpu'], undefined);
    assert.deepEqual(readObjects(join(K8S, 'base', 'prometheusrule.yaml')).map((o) => o.kind), ['PrometheusRule']);
  });

  it('rejects an invalid object (the validator is live)', () => {
    const bad = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: { selector: {}, template: { spec: { containers: [{ name: 'a', ports: [{ containerPort: 'http' }] }] } } } };
    assert.throws(() => new Deployment(bad as never).validate(), /containerPort must be integer/);
  });
});
