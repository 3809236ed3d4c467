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
    assert.deepEqual(command.slice(0, 4), ['npx', 'tsx', 'client/cli.ts', 'codec-server']);
    const flag = (f: string): string | undefined => command[command.indexOf(f) + 1];
    assert.equal(flag('--port'), '8081');
    assert.equal(flag('--host'), '0.0.0.0');
    assert.deepEqual(flag('--origin')?.split(','), ['http://localhost:8233', 'http://127.0.0.1:8233']);
    assert.deepEqual(svc('codec-server').healthcheck?.test.slice(0, 2), ['CMD', 'node']);
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
    const env = { ...process.env, LOGSTACK_CODEC_KEYS: codecKey('c1') };
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
  const pkg = JSON.parse(readFileSync(`${REPO}package.json`, 'utf8')) as { devDependencies: Record<string, string> };

  it('builds on the Node 24 release the project pins, with the locked dependencies and a prebuilt bundle', () => {
    assert.match(dockerfile, /^ARG NODE_VERSION=(\d+\.\d+\.\d+)$/m);
    assert.equal(/^ARG NODE_VERSION=(.+)$/m.exec(dockerfile)?.[1], pkg.devDependencies['node']);
    assert.match(dockerfile, /^FROM node:\$\{NODE_VERSION\}-bookworm-slim$/m);
    assert.match(dockerfile, /^ARG KUBECTL_VERSION=v\d+\.\d+\.\d+$/m);
    const steps = ['COPY package.json package-lock.json ./', 'RUN npm ci', 'COPY . .', 'RUN npm run build:bundle'].map((s) => dockerfile.indexOf(s));
    assert.ok(steps.every((i) => i >= 0), 'npm ci before copying sources, bundle after');
    assert.deepEqual([...steps].sort((a, b) => a - b), steps);
    assert.match(dockerfile, /LOGSTACK_WORKFLOW_BUNDLE=dist\/workflow-bundle\.js/);
    assert.match(dockerfile, /^USER node$/m);
    // The worker is PID 1 itself, so SIGTERM reaches it (the shutdown test runs this same command).
    assert.match(dockerfile, /^CMD \["node","--import","tsx","worker\/main\.ts"\]$/m);
  });

  it('keeps node_modules, dist, .git and the development rooms (sandbox, tests, benchmarks) out of the image', () => {
    const ignored = readFileSync(`${REPO}.dockerignore`, 'utf8').split('\n').map((l) => l.trim());
    for (const entry of ['node_modules', 'dist', '.git', 'sandbox', 'test', 'bench']) assert.ok(ignored.includes(entry), entry);
  });
});
