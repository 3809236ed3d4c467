/**
 * The composition of every activity the worker registers: the AWS module's, and the Kubernetes,
 * ESO, Argo CD, OLM, Loki, GitOps, state, drift and migration modules', each built by its factory
 * from the clients it needs. Building the object contacts nothing; clients connect on first use.
 */
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LogstackActivities } from '../domain/activity-contract.ts';
import type { StateKey } from '../domain/index.ts';
import { createWaitForArgoAppAtRevision } from './argocd/application.ts';
import { type AwsClients, createAwsActivities, createAwsClients } from './aws/index.ts';
import { createLoadCatalog, readCatalogFile } from './catalog.ts';
import { createDriftActivities } from './drift/drift.ts';
import { createEvidenceActivities } from './evidence/index.ts';
import { createWaitForExternalSecretSynced } from './eso/external-secret.ts';
import { createWaitForSecretStoreReady } from './eso/secret-store.ts';
import { type StoreCredentialConfig, createEnsureStoreCredential } from './eso/store-credential.ts';
import { createGitopsActivities } from './gitops/activities.ts';
import { type GitConfig, type GitRepo, openGitRepo } from './gitops/git.ts';
import { createCommitExists } from './gitops/revisions.ts';
import { type OverlayRenderer, createOverlayRenderer } from './gitops/render.ts';
import { createApplyOverlay } from './kubernetes/activities.ts';
import { withLivenessHeartbeat } from './kubernetes/activity-scope.ts';
import { type KubeClusters, createKubeClusters } from './kubernetes/cluster.ts';
import { type Kubeconfig, loadDefaultKubeconfig } from './kubernetes/kubeconfig.ts';
import { createLockActivities } from './lock/lock.ts';
import { createLokiGates } from './loki/gates.ts';
import { createMigrationActivities } from './migration/adopt.ts';
import { createNotifyActivities } from './notify/notify.ts';
import { createOlmActivities } from './olm/operators.ts';
import { createStateActivities } from './state/deployed-state.ts';

/** What the worker hands the activities. `catalogPath` and `stateKeys` are required; the rest has defaults. */
export interface ActivityDeps {
  /** The environment catalog file (its `gitops.remote` and `branch` are the Git defaults). */
  readonly catalogPath: string;
  /**
   * The deployed-state record keys (`LOGSTACK_STATE_KEYS`, parsed): the first signs, all verify. Required:
   * promotion trusts the record, so no activity set is built that could neither sign nor verify it.
   */
  readonly stateKeys: readonly StateKey[];
  /** kubeconfig path or a loaded config with one context per environment; default: `KUBECONFIG` / `~/.kube/config`. */
  readonly kubeconfig?: string | Kubeconfig;
  /** AWS endpoint override (the sandbox's moto). */
  readonly awsEndpoint?: string;
  /** Prebuilt AWS clients (otherwise built from `awsEndpoint` and the default credential chain). */
  readonly awsClients?: AwsClients;
  /** kubectl used for `kubectl kustomize`; default `LOGSTACK_KUBECTL`, else `kubectl` on PATH. */
  readonly kubectlPath?: string;
  /** Git overrides; remote and branch default to the catalog's `gitops` section. */
  readonly git?: Partial<GitConfig>;
  /**
   * Store credential Secret names (default: the gitops/ tree's). There is no key source: the store's key is
   * always the environment's own reader key, made by `ensureStoreCredential`; the worker's key never leaves it.
   */
  readonly storeCredential?: Partial<StoreCredentialConfig>;
  /** The task queue lock workflows are started on; default: the worker's own task queue. */
  readonly lockTaskQueue?: string;
  /** The evidence signing key (the worker's `LOGSTACK_EVIDENCE_KEY`, which its configuration requires). Without one, `recordEvidence` fails `InvalidInput`. */
  readonly evidenceKey?: string;
  /** The Web UI base URL notifications link to (the worker's `LOGSTACK_UI_URL`); without it they carry no link. */
  readonly uiBase?: string;
}

function defaultWorkdir(remote: string): string {
  return join(tmpdir(), `logstack-gitops-${createHash('sha256').update(remote).digest('hex').slice(0, 12)}-${process.pid}`);
}

/** Lazily opens the working clone and the renderer once; a failure is retried on the next call. */
function lazyGit(deps: ActivityDeps): { repo: () => Promise<GitRepo>; renderer: () => Promise<OverlayRenderer> } {
  let repo: Promise<GitRepo> | undefined;
  let renderer: Promise<OverlayRenderer> | undefined;
  const openRepo = async (): Promise<GitRepo> => {
    const overrides = deps.git ?? {};
    let { remote, branch } = overrides;
    if (!remote || !branch) {
      const catalog = await readCatalogFile(deps.catalogPath);
      remote ??= catalog.gitops.remote;
      branch ??= catalog.gitops.branch;
    }
    return openGitRepo({
      remote,
      branch,
      workdir: overrides.workdir ?? defaultWorkdir(remote),
      author: overrides.author ?? { name: 'logstack', email: 'logstack@localhost' },
      ...(overrides.gitPath ? { gitPath: overrides.gitPath } : {}),
    });
  };
  const getRepo = (): Promise<GitRepo> => {
    repo ??= openRepo().catch((error: unknown) => {
      repo = undefined;
      throw error;
    });
    return repo;
  };
  const kubectl = deps.kubectlPath ?? process.env['LOGSTACK_KUBECTL'] ?? 'kubectl';
  const getRenderer = (): Promise<OverlayRenderer> => {
    renderer ??= getRepo().then((r) => createOverlayRenderer(r, kubectl));
    renderer.catch(() => (renderer = undefined));
    return renderer;
  };
  return { repo: getRepo, renderer: getRenderer };
}

function kubeClusters(kubeconfig: ActivityDeps['kubeconfig']): KubeClusters {
  return createKubeClusters(kubeconfig ?? loadDefaultKubeconfig());
}

/** Every activity heartbeats while it runs (see {@link withLivenessHeartbeat}). */
function withLiveness(activities: LogstackActivities): LogstackActivities {
  const wrapped: Record<string, (...args: never[]) => Promise<unknown>> = {};
  for (const [name, fn] of Object.entries(activities) as [string, (...args: never[]) => Promise<unknown>][]) {
    wrapped[name] = (...args) => withLivenessHeartbeat(() => fn(...args));
  }
  return wrapped as unknown as LogstackActivities;
}

/**
 * Builds every activity of {@link LogstackActivities}. Guarantees: nothing is contacted while
 * building; the deployed-state record is signed and checked with `deps.stateKeys` (an empty list is
 * refused here, at start); each module gets only its own clients; the result satisfies the activity contract;
 * every activity heartbeats while it runs, so a lost worker is noticed within the heartbeat timeout.
 */
export function createActivities(deps: ActivityDeps): LogstackActivities {
  const clusters = kubeClusters(deps.kubeconfig);
  const git = lazyGit(deps);
  const awsClients = deps.awsClients ?? createAwsClients(deps.awsEndpoint ? { endpoint: deps.awsEndpoint } : {});
  const aws = createAwsActivities(awsClients);
  // Helpers other activities call in-process; no workflow schedules them, so they are not registered.
  const { inspectBucket: _inspectBucket, inspectLokiSecret: _inspectLokiSecret, ...awsActivities } = aws;
  const { readPinnedRevision: _readPinnedRevision, ...gitops } = createGitopsActivities(git);
  const { approveInstallPlan: _approveInstallPlan, ...olm } = createOlmActivities({ clusters });
  return withLiveness({
    loadCatalog: createLoadCatalog({ catalogPath: deps.catalogPath }),
    ...createLockActivities(deps.lockTaskQueue !== undefined ? { lockTaskQueue: deps.lockTaskQueue } : {}),
    ...awsActivities,
    ensureStoreCredential: createEnsureStoreCredential({ clusters, aws: awsClients, ...(deps.storeCredential ? { storeCredential: deps.storeCredential } : {}) }),
    applyOverlay: createApplyOverlay({ clusters, ...git }),
    ...createStateActivities({ clusters, stateKeys: deps.stateKeys, commitExists: createCommitExists(git.repo) }),
    waitForExternalSecretSynced: createWaitForExternalSecretSynced({ clusters }),
    waitForSecretStoreReady: createWaitForSecretStoreReady({ clusters }),
    waitForArgoAppAtRevision: createWaitForArgoAppAtRevision({ clusters }),
    ...olm,
    ...createLokiGates({ clusters }),
    ...gitops,
    ...createMigrationActivities({ clusters, ...git }),
    ...createDriftActivities({ clusters, ...git, aws }),
    ...createEvidenceActivities({ evidenceKey: deps.evidenceKey, aws: awsClients, repo: git.repo }),
    ...createNotifyActivities({ aws: awsClients, uiBase: deps.uiBase }),
  } satisfies LogstackActivities);
}
