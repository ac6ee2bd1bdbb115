// deploy/Dockerfile cannot be built here (no Docker engine on these machines), so it is linted by
// dockerfile-utils (the validator behind VS Code's Dockerfile support) and parsed with dockerfile-ast
// to check what the images must hold: a cpu and a gpu target, the CUDA provider fetched at build
// time for gpu, non-root, tini, HEALTHCHECK, ports and env the gateway and deploy/k8s agree on, and
// COPY sources that exist and pass deploy/Dockerfile.dockerignore.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { loadConfig } from '../../src/config.js';
import { REPO_ROOT } from '../helpers/gateway.js';
import { build } from './kustomize.js';

const DOCKERFILE = join(REPO_ROOT, 'deploy', 'Dockerfile');
const content = readFileSync(DOCKERFILE, 'utf8');
const dockerfile = DockerfileParser.parse(content);

interface Stage {
  name: string;
  from: string;
  instructions: Instruction[];
}

/** Stages in order, with FROM's image as written (ARGs before the first FROM resolved). */
function stages(): Stage[] {
  const globalArgs = Object.fromEntries(dockerfile.getInitialARGs().map((a) => [a.getProperty()!.getName(), a.getProperty()!.getValue() ?? '']));
  const out: Stage[] = [];
  for (const ins of dockerfile.getInstructions()) {
    if (ins.getKeyword() === 'FROM') {
      const [image = '', as, name = ''] = ins.getArguments().map((a) => a.getValue());
      assert.equal(as?.toUpperCase(), 'AS', `stage without a name: ${ins.getTextContent()}`);
      out.push({ name, from: image.replace(/^\$\{(\w+)\}$/, (_, v: string) => globalArgs[v] ?? out.find((s) => s.name === v)?.from ?? v), instructions: [] });
    } else out.at(-1)?.instructions.push(ins);
  }
  return out;
}

const args = (ins: Instruction): string => ins.getArgumentsContent() ?? '';
/** The whole instruction as written, flags included. */
const text = (ins: Instruction): string => ins.getTextContent();
const of = (stage: Stage, keyword: string): Instruction[] => stage.instructions.filter((i) => i.getKeyword() === keyword);

/** ENV key=value pairs of a stage. */
function env(stage: Stage): Record<string, string> {
  const pairs: Record<string, string> = {};
  for (const ins of of(stage, 'ENV')) for (const m of args(ins).matchAll(/(\w+)=(\S+)/g)) pairs[m[1]!] = m[2]!;
  return pairs;
}

describe('deploy/Dockerfile', () => {
  const all = stages();
  const stage = (name: string): Stage => {
    const s = all.find((x) => x.name === name);
    assert.ok(s, `stage ${name}`);
    return s;
  };

  it('lints clean (dockerfile-utils validator)', () => {
    const problems = validate(content).map((d) => `line ${d.range.start.line + 1}: ${typeof d.message === 'string' ? d.message : d.message.value}`);
    assert.deepEqual(problems, []);
  });

  it('has a slim cpu target and a CUDA gpu target that fetches the CUDA provider at build time', () => {
    assert.deepEqual(all.map((s) => s.name), ['build', 'deps-cpu', 'deps-gpu', 'cpu', 'node-binary', 'gpu']);
    assert.match(stage('cpu').from, /^node:20[.\d]*-bookworm-slim$/);
    assert.match(stage('gpu').from, /^nvidia\/cuda:12\.[\d.]+-cudnn-runtime-/, 'onnxruntime-node CUDA 12 needs cuDNN');
    const depsGpu = stage('deps-gpu');
    assert.equal(env(depsGpu)['ONNXRUNTIME_NODE_INSTALL'], 'cuda12');
    assert.match(of(depsGpu, 'RUN').map(args).join('\n'), /libonnxruntime_providers_cuda\.so/, 'the build checks the provider arrived');
    assert.doesNotMatch(of(stage('deps-cpu'), 'ENV').map(args).join('\n'), /ONNXRUNTIME_NODE_INSTALL/);
    const copies = (s: Stage): string => of(s, 'COPY').map(text).join('\n');
    assert.match(copies(stage('gpu')), /--from=deps-gpu /);
    assert.match(copies(stage('cpu')), /--from=deps-cpu /);
    assert.match(copies(stage('gpu')), /--from=node-binary \/usr\/local\/bin\/node /);
  });

  for (const name of ['cpu', 'gpu']) {
    it(`${name} image: non-root, tini, HEALTHCHECK, ports and env that the gateway and deploy/k8s agree on`, () => {
      const s = stage(name);
      const user = of(s, 'USER').map(args).at(-1);
      assert.equal(user, '10001:10001', 'numeric non-root user (runAsNonRoot can check it)');
      const deployment = build(join(REPO_ROOT, 'deploy', 'k8s', 'overlays', name)).find((o) => o.kind === 'Deployment') as unknown as { spec: { template: { spec: { securityContext: { runAsUser: number }; containers: { ports: { containerPort: number }[] }[] } } } };
      assert.equal(deployment.spec.template.spec.securityContext.runAsUser, 10001);

      const entrypoint = JSON.parse(args(of(s, 'ENTRYPOINT').at(-1)!)) as string[];
      assert.deepEqual(entrypoint, ['/usr/bin/tini', '--', 'node', 'dist/main.js'], 'exec form, tini as PID 1 forwarding SIGTERM');
      assert.match(of(s, 'RUN').map(args).join('\n'), /apt-get install[^\n]*\btini\b/);
      assert.equal(of(s, 'CMD').length, 0);

      const healthcheck = text(of(s, 'HEALTHCHECK').at(-1)!);
      assert.match(healthcheck, /\/healthz/);
      assert.match(healthcheck, /--start-period=\d+s/);

      const exposed = of(s, 'EXPOSE').flatMap((i) => args(i).split(/\s+/)).map(Number).sort();
      assert.deepEqual(exposed, deployment.spec.template.spec.containers[0]!.ports.map((p) => p.containerPort).sort());

      // The image's settings are a config file (valid for the gateway, listening beyond loopback),
      // not GATEWAY_* env, which would silently override a mounted ConfigMap.
      const vars = env(s);
      assert.deepEqual(Object.keys(vars).filter((k) => k.startsWith('GATEWAY_')), ['GATEWAY_CONFIG']);
      const configCopy = of(s, 'COPY').map((i) => i.getArguments().map((a) => a.getValue())).find((a) => `/app/${a.at(-1)!.replace(/^\.\//, '')}` === vars['GATEWAY_CONFIG']);
      assert.ok(configCopy, `no COPY puts a file at ${vars['GATEWAY_CONFIG']}`);
      const config = loadConfig([], { GATEWAY_CONFIG: join(REPO_ROOT, configCopy[0]!) });
      assert.equal(config.host, '0.0.0.0');
      assert.equal(config.executionProvider, name === 'gpu' ? 'cuda' : 'cpu');
      assert.equal(config.modelsDir, '/app/models');
      assert.equal(vars['NODE_ENV'], 'production');
    });
  }

  it('copies only sources that exist and that the build context keeps', () => {
    const ignore = readFileSync(join(REPO_ROOT, 'deploy', 'Dockerfile.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    assert.equal(ignore[0], '*', 'allow-list context');
    const kept = ignore.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, ''));
    const modelsArg = dockerfile.getARGs().find((a) => a.getProperty()?.getName() === 'MODELS')?.getProperty()?.getValue();
    for (const s of all) {
      for (const copy of of(s, 'COPY')) {
        const parts = copy.getArguments().map((a) => a.getValue()).filter((a) => !a.startsWith('--'));
        if (text(copy).includes('--from=')) continue;
        for (const src of parts.slice(0, -1).map((p) => p.replace('${MODELS}', modelsArg ?? ''))) {
          assert.ok(existsSync(join(REPO_ROOT, src)), `${s.name}: COPY ${src} does not exist`);
          assert.ok(kept.some((k) => src === k || src.startsWith(`${k}/`)), `${s.name}: COPY ${src} is excluded by Dockerfile.dockerignore`);
        }
      }
    }
    assert.ok(existsSync(join(REPO_ROOT, 'src', 'main.ts')) && (JSON.parse(readFileSync(join(REPO_ROOT, 'tsconfig.build.json'), 'utf8')) as { compilerOptions: { outDir: string } }).compilerOptions.outDir === 'dist');
  });

  it('ships every file the compiled gateway reads at run time (paths relative to its modules)', () => {
    // src/<dir>/x.ts compiles to dist/<dir>/x.js, so `new URL('../../p', import.meta.url)` names
    // the same path relative to the repository root and to /app.
    const needed: string[] = [];
    for (const file of readdirSync(join(REPO_ROOT, 'src'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'))) {
      const text = readFileSync(join(REPO_ROOT, 'src', file), 'utf8');
      for (const m of text.matchAll(/new URL\('(\.\.\/[^']+)', import\.meta\.url\)/g)) needed.push(relative(REPO_ROOT, join(REPO_ROOT, 'src', dirname(file), m[1]!)));
    }
    assert.ok(needed.includes('proto/gateway/v1/gateway.proto'), needed.join(', '));
    for (const name of ['cpu', 'gpu']) {
      // Where each COPY puts things; into a directory (`COPY package.json ./`), a file keeps its name.
      const dests = of(stage(name), 'COPY').flatMap((i) => {
        const args = i.getArguments().map((a) => a.getValue()).filter((a) => !a.startsWith('--'));
        const dest = args.at(-1)!.replace(/^\.\//, '');
        if (dest !== '' && !dest.endsWith('/')) return [dest];
        return args.slice(0, -1).map((src) => `${dest}${src.split('/').at(-1)!}`);
      });
      for (const path of needed) {
        assert.ok(existsSync(join(REPO_ROOT, path)), `${path} is read at run time but does not exist`);
        assert.ok(dests.some((d) => path === d || path.startsWith(`${d}/`)), `${name} image lacks ${path} (read at run time)`);
      }
    }
  });

  it('the linter is live: it reports a broken Dockerfile', () => {
    assert.ok(validate('FROM node:20 AS a\nEXPOSE notaport\nHEALTHCHECK --interval=abc CMD true\n').length >= 2);
  });
});
