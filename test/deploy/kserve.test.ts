// deploy/kserve/inferenceservice.yaml: a KServe InferenceService (serving.kserve.io/v1beta1) with a
// custom predictor. kubernetes-models has no KServe types, so the KServe fields used are checked
// by hand against the CRD's ComponentExtensionSpec (pkg/apis/serving/v1beta1/component.go), and
// the PodSpec part (containers, probes, resources) against the pinned Kubernetes schema. The
// configuration the container ends up with must parse with the gateway's own schema, and the
// probe paths must answer on a real gateway.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type IContainer, PodSpec } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import { parseConfig } from '../../src/config.js';
import { FIXTURE_MODELS, REPO_ROOT, makeRepository, startTestGateway } from '../helpers/gateway.js';

const FILE = join(REPO_ROOT, 'deploy', 'kserve', 'inferenceservice.yaml');

type Obj = Record<string, unknown>;

/** ComponentExtensionSpec fields of the CRD (the rest of a PredictorSpec is an inlined PodSpec). */
const EXTENSION_FIELDS = new Set(['minReplicas', 'maxReplicas', 'scaleTarget', 'scaleMetric', 'containerConcurrency', 'timeout', 'canaryTrafficPercent', 'logger', 'batcher', 'labels', 'annotations', 'deploymentStrategy']);
/** InferenceService names: lower-case alphanumerics or '-', starting with a letter (KServe's validation). */
const ISVC_NAME = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

function load(): { isvc: Obj; predictor: Obj; container: IContainer } {
  const docs = parseAllDocuments(readFileSync(FILE, 'utf8')).map((d) => d.toJS() as Obj);
  assert.equal(docs.length, 1, 'one InferenceService');
  const isvc = docs[0]!;
  const predictor = ((isvc['spec'] as Obj | undefined)?.['predictor'] ?? {}) as Obj;
  const containers = (predictor['containers'] ?? []) as IContainer[];
  assert.equal(containers.length, 1, 'one predictor container');
  return { isvc, predictor, container: containers[0]! };
}

describe('KServe InferenceService', () => {
  const { isvc, predictor, container } = load();
  const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value]));

  it('is a v1beta1 InferenceService with a custom predictor KServe accepts', () => {
    assert.equal(isvc['apiVersion'], 'serving.kserve.io/v1beta1');
    assert.equal(isvc['kind'], 'InferenceService');
    const name = (isvc['metadata'] as Obj)['name'] as string;
    assert.match(name, ISVC_NAME);
    assert.deepEqual(Object.keys(isvc['spec'] as Obj), ['predictor'], 'a predictor only (no transformer or explainer)');
    // A custom predictor is containers, not a model format: exactly one implementation.
    assert.equal(predictor['model'], undefined);
    assert.equal(container.name, 'kserve-container', 'KServe finds the predictor container by this name');

    // ComponentExtensionSpec, by hand: types, enum, and validateReplicas().
    const minReplicas = predictor['minReplicas'] as number;
    const maxReplicas = predictor['maxReplicas'] as number;
    assert.ok(Number.isInteger(minReplicas) && minReplicas >= 1, 'keeps a warm replica (model loading is slow)');
    assert.ok(Number.isInteger(maxReplicas) && maxReplicas >= minReplicas);
    assert.ok(['cpu', 'memory', 'concurrency', 'rps'].includes(predictor['scaleMetric'] as string));
    assert.equal(predictor['scaleMetric'], 'concurrency');
    assert.ok(Number.isInteger(predictor['scaleTarget']) && (predictor['scaleTarget'] as number) > 1, 'batching needs concurrent requests per pod');
    assert.equal(predictor['containerConcurrency'], undefined, 'a concurrency cap would limit batching');
    assert.ok(Number.isInteger(predictor['timeout']) && (predictor['timeout'] as number) > 0);

    // The rest is an inlined PodSpec: validate it against the pinned Kubernetes schema.
    const podSpec = Object.fromEntries(Object.entries(predictor).filter(([k]) => !EXTENSION_FIELDS.has(k)));
    assert.deepEqual(Object.keys(podSpec), ['containers'], 'only fields this test knows are used');
    assert.doesNotThrow(() => new PodSpec(podSpec as never).validate());
  });

  it('declares one HTTP/1.1 port (Knative routes to one) with the v2 health probes on it', () => {
    const ports = container.ports ?? [];
    assert.equal(ports.length, 1, 'Knative accepts exactly one container port');
    const port = ports[0]!;
    // 8080 is fastify (HTTP/1.1): "h2c" would make the queue-proxy speak HTTP/2 to it.
    assert.equal(port.name, 'http1');
    assert.equal(container.readinessProbe?.httpGet?.path, '/v2/health/ready');
    assert.equal(container.livenessProbe?.httpGet?.path, '/v2/health/live');
    for (const probe of [container.readinessProbe, container.livenessProbe]) assert.equal(probe?.httpGet?.port, port.containerPort, 'probes use the serving port');
    assert.equal(container.startupProbe, undefined, 'liveness answers while models load');
    assert.ok(container.resources?.requests?.['cpu'] !== undefined && container.resources.limits?.['memory'] !== undefined);
    assert.equal(container.securityContext?.runAsNonRoot, true);
    assert.equal(container.securityContext?.runAsUser, 10001, "the image's user");
  });

  it('ends up with a valid gateway config on that port, reading the models KServe provides', () => {
    const imageConfig = JSON.parse(readFileSync(join(REPO_ROOT, 'deploy', 'image-config', 'cpu.json'), 'utf8')) as Record<string, unknown>;
    // The same sources the process reads: the image's config file, then GATEWAY_* env (strings, coerced).
    const overrides = Object.fromEntries(
      Object.entries(env)
        .filter(([k]) => k.startsWith('GATEWAY_') && k !== 'GATEWAY_CONFIG')
        .map(([k, v]) => [k.slice('GATEWAY_'.length).toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), v]),
    );
    const config = parseConfig({ ...imageConfig, ...overrides });
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.httpPort, container.ports![0]!.containerPort);
    assert.equal(config.metricsPort, -1, '/metrics on the serving port: a separate metrics port cannot be declared');
    assert.equal(config.modelsDir, '/mnt/models', "KServe's storage initializer mount");
    assert.match(env['STORAGE_URI'] ?? '', /^(pvc|s3|gs|https?):\/\//);
    assert.equal(env['PROTOCOL'], 'v2');
    const annotations = (isvc['metadata'] as Obj)['annotations'] as Record<string, string>;
    assert.equal(annotations['prometheus.kserve.io/port'], String(config.httpPort));
    assert.equal(annotations['prometheus.kserve.io/path'], '/metrics');
  });

  it('probes paths that answer 200 on a real gateway once its models are loaded', async () => {
    const gw = await startTestGateway(await makeRepository([{ from: join(FIXTURE_MODELS, 'tiny-dynamic') }]), { metricsPort: -1 });
    try {
      for (const probe of [container.readinessProbe, container.livenessProbe]) {
        const res = await fetch(`${gw.http}${probe!.httpGet!.path!}`);
        assert.equal(res.status, 200, probe!.httpGet!.path);
      }
      assert.equal((await fetch(`${gw.http}/metrics`)).status, 200);
    } finally {
      await gw.stop();
    }
  });
});
