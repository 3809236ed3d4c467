/**
 * docker-compose.yml and the Dockerfile, checked for structure (no Docker engine here): the services,
 * images pinned by tag, ports on loopback, the environment that ties worker, codec server and Web UI
 * together, start-up order, and the image build steps. `docker compose config` (or `docker-compose
 * config`) validates the file too where a compose tool is installed. Runs on Node and Deno.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { SearchAttributeNames, TEMPORAL_DEFAULTS } from '../../domain/index.ts';
import { DENO_WORKER_COMMAND, WORKER_NODE_OPTIONS, WORKER_PROCESS_ENV } from '../../worker/launch.ts';
import { REPO, codecKey } from './helpers.ts';

interface Service {
  image?: string;
  build?: string | { context: string };
  command?: string[] | string;
  entrypoint?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  depends_on?: string[] | Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  volumes?: string[];
}

const compose = parse(readFileSync(`${REPO}docker-compose.yml`, 'utf8'), { merge: true }) as { services: Record<string, Service>; volumes?: Record<string, unknown> };
const services = compose.services;
const svc = (name: string): Service => {
  const s = services[name];
  assert.ok(s, `service ${name} exists`);
  return s;
};
const dependsOn = (name: string): Record<string, string> => {
  const d = svc(name).depends_on ?? [];
  return Array.isArray(d) ? Object.fromEntries(d.map((x) => [x, 'service_started'])) : Object.fromEntries(Object.entries(d).map(([k, v]) => [k, v.condition]));
};
const published = (name: string): string[] => (svc(name).ports ?? []).map((p) => p.split(':').slice(0, 2).join(':'));

describe('docker-compose.yml (structure)', () => {
  it('has Temporal with PostgreSQL, its setup, the Web UI, LocalStack, the worker and the codec server', () => {
    assert.deepEqual(Object.keys(services).sort(), ['codec-server', 'localstack', 'postgresql', 'temporal', 'temporal-setup', 'temporal-ui', 'worker']);
  });

  it('pins every image by an explicit version tag from the official repositories', () => {
    const pins: Record<string, RegExp> = {
      postgresql: /^postgres:16\.\d+$/,
      temporal: /^temporalio\/auto-setup:1\.\d+\.\d+$/,
      'temporal-setup': /^temporalio\/admin-tools:1\.\d+\.\d+(-tctl-[\d.]+-cli-[\d.]+)?$/,
      'temporal-ui': /^temporalio\/ui:2\.\d+\.\d+$/,
      localstack: /^localstack\/localstack:4\.\d+\.\d+$/,
    };
    for (const [name, pattern] of Object.entries(pins)) assert.match(svc(name).image ?? '', pattern, name);
    for (const [name, s] of Object.entries(services)) {
      assert.ok(s.image, `${name} names an image`);
      assert.ok(!/:latest$/.test(s.image) && s.image.includes(':'), `${name} image is pinned: ${s.image}`);
    }
    // The admin tools match the server release.
    assert.equal(svc('temporal-setup').image?.split(':')[1]?.split('-')[0], svc('temporal').image?.split(':')[1]);
  });

  it('builds the worker and the codec server from this repository into one image', () => {
    for (const name of ['worker', 'codec-server']) {
      const build = svc(name).build;
      assert.equal(typeof build === 'string' ? build : build?.context, '.', name);
      assert.equal(svc(name).image, 'logstack:local', name);
    }
  });

  it('publishes only on 127.0.0.1: Temporal 7233, Web UI 8233, codec server 8081, LocalStack 4566', () => {
    assert.deepEqual(published('temporal'), [`127.0.0.1:${TEMPORAL_DEFAULTS.address.split(':')[1]}`]);
    assert.deepEqual(published('temporal-ui'), [`127.0.0.1:${TEMPORAL_DEFAULTS.uiPort}`]);
    assert.deepEqual(published('codec-server'), ['127.0.0.1:8081']);
    assert.deepEqual(published('localstack'), ['127.0.0.1:4566']);
    for (const name of ['postgresql', 'worker', 'temporal-setup']) assert.equal(svc(name).ports, undefined, `${name} is not published`);
  });

  it('points the Web UI at the codec server, whose CORS allows the UI origin', () => {
    const ui = svc('temporal-ui').environment ?? {};
    assert.equal(ui['TEMPORAL_ADDRESS'], 'temporal:7233');
    assert.equal(ui['TEMPORAL_CODEC_ENDPOINT'], 'http://localhost:8081');
    const command = svc('codec-server').command as string[];
    // Node runs the TypeScript CLI itself; the image has no tsx (a dev dependency).
    assert.deepEqual(command.slice(0, 3), ['node', 'client/cli.ts', 'codec-server']);
    const flag = (f: string): string | undefined => command[command.indexOf(f) + 1];
    assert.equal(flag('--port'), '8081');
    assert.equal(flag('--host'), '0.0.0.0');
    assert.deepEqual(flag('--origin')?.split(','), ['http://localhost:8233', 'http://127.0.0.1:8233']);
    assert.deepEqual(svc('codec-server').healthcheck?.test.slice(0, 2), ['CMD', 'node']);
  });

  it('binds the codec server on all of its container\'s interfaces only with a required token, never --no-auth', () => {
    const codec = svc('codec-server');
    const command = codec.command as string[];
    assert.ok(!command.includes('--no-auth'), 'no --no-auth');
    assert.ok(!command.includes('--token'), 'the token comes from the environment, not the command line');
    assert.match(codec.environment?.['LOGSTACK_CODEC_TOKEN'] ?? '', /^\$\{LOGSTACK_CODEC_TOKEN:\?.+\}$/, 'compose refuses to start without LOGSTACK_CODEC_TOKEN');
    assert.equal(svc('worker').environment?.['LOGSTACK_CODEC_TOKEN'], undefined, 'the worker does not get the token');
  });

  it('gives the worker and the codec server the same Temporal settings and codec keys (required)', () => {
    const worker = svc('worker').environment ?? {};
    const codec = svc('codec-server').environment ?? {};
    for (const key of ['TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'LOGSTACK_TASK_QUEUE', 'LOGSTACK_CODEC_KEYS']) assert.equal(worker[key], codec[key], key);
    assert.equal(worker['TEMPORAL_ADDRESS'], 'temporal:7233');
    assert.equal(worker['TEMPORAL_NAMESPACE'], TEMPORAL_DEFAULTS.namespace);
    assert.equal(worker['LOGSTACK_TASK_QUEUE'], TEMPORAL_DEFAULTS.taskQueue);
    assert.match(worker['LOGSTACK_CODEC_KEYS'] ?? '', /^\$\{LOGSTACK_CODEC_KEYS:\?.+\}$/);
    assert.equal(worker['LOGSTACK_WORKFLOW_BUNDLE'], 'dist/workflow-bundle.js');
    assert.equal(worker['AWS_ENDPOINT_URL'], 'http://localstack:4566');
    assert.equal(worker['KUBECONFIG'], '/home/node/.kube/config');
    // The worker refuses to start without its two signing keys, so compose asks for them (and only the worker gets them).
    for (const key of ['LOGSTACK_STATE_KEYS', 'LOGSTACK_EVIDENCE_KEY']) {
      assert.match(worker[key] ?? '', new RegExp(`^\\$\\{${key}:\\?set ${key} .+\\}$`), key);
      assert.equal(codec[key], undefined, `the codec server does not get ${key}`);
    }
    assert.ok(svc('worker').volumes?.some((v) => v.endsWith(':/home/node/.kube/config:ro')));
  });

  it('runs LocalStack with exactly S3, Secrets Manager, IAM and STS', () => {
    assert.deepEqual((svc('localstack').environment?.['SERVICES'] ?? '').split(',').sort(), ['iam', 's3', 'secretsmanager', 'sts']);
  });

  it('starts in order: PostgreSQL healthy → Temporal → search attributes registered + LocalStack healthy → worker', () => {
    assert.deepEqual(dependsOn('temporal'), { postgresql: 'service_healthy' });
    assert.deepEqual(dependsOn('temporal-setup'), { temporal: 'service_started' });
    assert.deepEqual(dependsOn('temporal-ui'), { temporal: 'service_started' });
    assert.deepEqual(dependsOn('worker'), { 'temporal-setup': 'service_completed_successfully', localstack: 'service_healthy' });
    const script = (svc('temporal-setup').command as string[]).join('\n');
    for (const name of Object.values(SearchAttributeNames)) assert.ok(script.includes(name), name);
    assert.match(script, /search-attribute create --name "\$\$name" --type Keyword/);
    const temporal = svc('temporal').environment ?? {};
    assert.equal(temporal['DB'], 'postgres12');
    assert.equal(temporal['POSTGRES_SEEDS'], 'postgresql');
    assert.equal(svc('postgresql').environment?.['POSTGRES_USER'], temporal['POSTGRES_USER']);
    assert.equal(svc('postgresql').environment?.['POSTGRES_PASSWORD'], temporal['POSTGRES_PWD']);
    assert.ok(compose.volumes && 'postgresql-data' in compose.volumes);
  });

  it('validates with docker compose config where a compose tool is installed', (t) => {
    const tools: [string, string[]][] = [
      ['docker', ['compose', 'config', '--quiet']],
      ['docker-compose', ['config', '--quiet']],
    ];
    const env = { ...process.env, LOGSTACK_CODEC_KEYS: codecKey('c1'), LOGSTACK_STATE_KEYS: codecKey('s1'), LOGSTACK_EVIDENCE_KEY: 'e'.repeat(64) };
    for (const [cmd, args] of tools) {
      let probe;
      try {
        probe = spawnSync(cmd, [...args.slice(0, -2), 'version'], { encoding: 'utf8' });
      } catch {
        continue; // no permission to run programs (Deno without --allow-run)
      }
      if (probe.status !== 0) continue;
      const res = spawnSync(cmd, ['-f', `${REPO}docker-compose.yml`, ...args], { encoding: 'utf8', env, cwd: REPO });
      assert.equal(res.status, 0, `${cmd} ${args.join(' ')}: ${res.stderr}`);
      const missing = spawnSync(cmd, ['-f', `${REPO}docker-compose.yml`, ...args], { encoding: 'utf8', env: { ...env, LOGSTACK_CODEC_KEYS: '' }, cwd: REPO });
      assert.notEqual(missing.status, 0, 'refuses to start without LOGSTACK_CODEC_KEYS');
      assert.match(missing.stderr, /set LOGSTACK_CODEC_KEYS/);
      return;
    }
    t.skip('no docker compose / docker-compose on this machine');
  });
});

describe('Dockerfile (structure)', () => {
  const dockerfile = readFileSync(`${REPO}Dockerfile`, 'utf8');
  const pkg = JSON.parse(readFileSync(`${REPO}package.json`, 'utf8')) as {
    dependencies: Record<string, string>;
    devDependencies: Record<string, string>;
    scripts: Record<string, string>;
  };
  // Instructions (comments and continuations folded away), grouped by stage.
  const instructions = dockerfile
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages: string[][] = [];
  for (const line of instructions) {
    if (line.startsWith('FROM ')) stages.push([line]);
    else stages.at(-1)?.push(line);
  }
  const build = stages.find((s) => / AS build$/.test(s[0] ?? '')) ?? [];
  const final = stages.at(-1) ?? [];
  const indexOf = (stage: string[], prefix: string): number => stage.findIndex((l) => l.startsWith(prefix));

  it('builds on the Node 24 release the project pins: a build stage with every dependency builds the bundle', () => {
    assert.match(dockerfile, /^ARG NODE_VERSION=(\d+\.\d+\.\d+)$/m);
    assert.equal(/^ARG NODE_VERSION=(.+)$/m.exec(dockerfile)?.[1], pkg.devDependencies['node']);
    assert.match(dockerfile, /^ARG KUBECTL_VERSION=v\d+\.\d+\.\d+$/m);
    assert.equal(build[0], 'FROM node:${NODE_VERSION}-bookworm-slim AS build');
    const steps = [
      'COPY package.json package-lock.json ./',
      'RUN npm ci --no-audit',
      'COPY . .',
      'RUN npm run build:bundle',
    ].map((s) => indexOf(build, s));
    assert.ok(
      steps.every((i) => i > 0),
      `npm ci (dev dependencies included), sources, bundle: ${build.join(' | ')}`,
    );
    assert.deepEqual(
      [...steps].sort((a, b) => a - b),
      steps,
    );
    assert.equal(pkg.scripts['build:bundle'], 'node worker/bundle.ts', 'the bundles land in dist/workflow-bundle.js and dist/workflow-bundle.untraced.js');
    const launchEnv = Object.entries(WORKER_PROCESS_ENV).map(([name, value]) => `${name}=${value}`);
    assert.equal(
      pkg.scripts['worker'],
      ['node sandbox/cli.ts exec -- env', ...launchEnv, 'node', ...WORKER_NODE_OPTIONS, 'worker/main.ts'].join(' '),
      '`npm run worker` starts the worker as the image does (worker/launch.ts)',
    );
    const deno = JSON.parse(readFileSync(`${REPO}deno.json`, 'utf8')) as { tasks: Record<string, string> };
    assert.equal(
      deno.tasks['worker'],
      [...launchEnv, 'deno', ...DENO_WORKER_COMMAND].join(' '),
      '`deno task worker` starts the worker with the permissions and settings the tests start it with (worker/launch.ts)',
    );
    assert.ok(!DENO_WORKER_COMMAND.includes('--allow-all') && !DENO_WORKER_COMMAND.includes('-A'), 'each permission named, no --allow-all');
  });

  it('ends with a stage of production dependencies, the prebuilt bundle and the sources, run by Node itself', () => {
    assert.equal(final[0], 'FROM node:${NODE_VERSION}-bookworm-slim');
    assert.notEqual(final, build);
    const install = final.filter((l) => l.startsWith('RUN npm'));
    assert.equal(install.length, 1, install.join(' | '));
    assert.match(install[0] ?? '', /^RUN npm ci --omit=dev /);
    assert.ok(indexOf(final, 'COPY package.json package-lock.json ./') < indexOf(final, 'RUN npm ci'));
    assert.equal(indexOf(final, 'COPY . .'), -1, 'no wholesale copy of the build context');
    assert.ok(final.includes('COPY --from=build /app/dist/workflow-bundle.js /app/dist/workflow-bundle.untraced.js ./dist/'), 'both bundles: traced, and the untraced twin a worker with tracing off loads');
    assert.ok(
      final.some((l) => l.startsWith('ENV ') && l.includes('LOGSTACK_WORKFLOW_BUNDLE=dist/workflow-bundle.js')),
    );
    assert.ok(final.includes('USER node'));
    // The worker is PID 1 itself, so SIGTERM reaches it (the shutdown test runs this same command).
    assert.equal(final.at(-1), `CMD ${JSON.stringify(['node', ...WORKER_NODE_OPTIONS, 'worker/main.ts'])}`);
    for (const [name, value] of Object.entries(WORKER_PROCESS_ENV)) {
      assert.ok(final.some((l) => l.includes(`${name}=${value}`)), `the image sets ${name}=${value} (worker/launch.ts)`);
    }
    assert.ok(!final.join('\n').includes('tsx'), 'nothing in the final stage uses tsx');
    assert.ok(!pkg.dependencies['tsx'] && !pkg.dependencies['node'], 'tsx and the node package are dev dependencies');
  });

  it('copies every source the worker and the CLI import into the final stage, and they import production dependencies only', () => {
    const copied = final
      .filter((l) => l.startsWith('COPY ') && !l.startsWith('COPY --'))
      .flatMap((l) => l.split(/\s+/).slice(1, -1))
      .map((src) => src.replace(/\/$/, ''));
    const inImage = (file: string): boolean => copied.some((src) => file === src || file.startsWith(`${src}/`));
    const files = new Set<string>();
    const packages = new Set<string>();
    const pending = ['worker/main.ts', 'worker/bundle.ts', 'client/cli.ts', 'client/bin.js'];
    for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
      if (files.has(file)) continue;
      files.add(file);
      const source = readFileSync(`${REPO}${file}`, 'utf8');
      const dir = file.split('/').slice(0, -1);
      const resolve = (specifier: string): string => {
        const parts = [...dir];
        for (const part of specifier.split('/')) {
          if (part === '..') parts.pop();
          else if (part !== '.') parts.push(part);
        }
        return parts.join('/');
      };
      for (const [, specifier = ''] of source.matchAll(/(?<![.\w])(?:from|import)\s*\(?\s*'([^']+)'/g)) {
        if (specifier.startsWith('.')) pending.push(resolve(specifier));
        else if (!specifier.startsWith('node:'))
          packages.add(
            specifier
              .split('/')
              .slice(0, specifier.startsWith('@') ? 2 : 1)
              .join('/'),
          );
      }
      // Files read at run time next to the module (the workflow entry points, the sandbox's versions).
      for (const [, specifier = ''] of source.matchAll(/new URL\('(\.{1,2}\/[^']+\.\w+)', import\.meta\.url\)/g)) {
        const path = resolve(specifier);
        if (!path.startsWith('dist/')) pending.push(path);
      }
    }
    assert.ok(files.has('workflows/failure-logging.ts') && files.has('activities/index.ts'), [...files].join(' '));
    assert.deepEqual(
      [...files].filter((f) => !inImage(f)).sort(),
      [],
      'sources imported but not copied into the image',
    );
    assert.deepEqual(
      [...packages].filter((p) => !pkg.dependencies[p]).sort(),
      [],
      'packages imported that npm ci --omit=dev leaves out',
    );
  });

  it('keeps node_modules, dist, .git and the development rooms (sandbox, tests, benchmarks) out of the image', () => {
    const ignored = readFileSync(`${REPO}.dockerignore`, 'utf8').split('\n').map((l) => l.trim());
    for (const entry of ['node_modules', 'dist', '.git', 'sandbox', 'test', 'bench']) assert.ok(ignored.includes(entry), entry);
  });
});
