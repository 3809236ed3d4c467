import { printable } from '../printable.ts';
import type { Command } from 'commander';
import {
  type Environment,
  STATE_NAMESPACE,
  STATE_RECORD_FIELDS,
  STATE_FIELD_MANAGER,
  STATE_KEYS_ENV,
  STATE_SIGNATURE_FIELD,
  type StateKey,
  type StateRecordData,
  foreignDataOwners,
  isCommitSha,
  parseStateKeys,
  signStateRecord,
  stateConfigMapName,
  stateRecordData,
  stateRecordProblems,
} from '../../domain/index.ts';
import type { CommandContext } from '../context.ts';
import { CliError, ExitCode } from '../errors.ts';
import { catalogPath, loadEnvironment } from '../local/catalog.ts';
import { kubectlPath } from '../local/render.ts';
import { commitsInRemote, hmacSha256, Kubectl, type LiveConfigMap } from '../local/state.ts';
import { environmentName } from './arguments.ts';
import type { Runner } from './runner.ts';

/** What `state show` prints and `state repair` starts from. */
interface Inspection {
  readonly environment: string;
  readonly context: string;
  readonly configMap: string;
  readonly live: LiveConfigMap | undefined;
  /** The record's data as stored (every key, the signature included); null when absent. */
  readonly record: Readonly<Record<string, string>> | null;
  /** Every failed check; empty when the record is trustworthy (or absent). */
  readonly problems: readonly string[];
  /** Field managers other than logstack that own data keys. */
  readonly foreignOwners: readonly { manager: string; fields: string[] }[];
  /** What Argo CD syncs for the environment; null without an Application. */
  readonly argocd: { readonly application: string; readonly revision: string | null; readonly sync: string | null; readonly health: string | null } | null;
}

interface LocalOptions {
  readonly catalog?: string;
  readonly kubectl?: string;
}

/** The record keys from `LOGSTACK_STATE_KEYS`, the worker's own. */
function stateKeys(env: Readonly<Record<string, string | undefined>>): readonly StateKey[] {
  const spec = env[STATE_KEYS_ENV];
  if (!spec) throw new CliError(`${STATE_KEYS_ENV} is not set: the state commands check and sign records with the worker's keys ("id:base64key,…")`, ExitCode.usage);
  const { keys, problems } = parseStateKeys(spec);
  if (problems.length > 0) throw new CliError(`${STATE_KEYS_ENV} is invalid: ${problems.join('; ')}`, ExitCode.usage);
  return keys;
}

/** Reads the record, runs every check (the commits against the GitOps remote), and what Argo CD runs. */
async function inspect(env: Environment, remote: string, kubectl: Kubectl, keys: readonly StateKey[], ioEnv: Readonly<Record<string, string | undefined>>, extraCommits: readonly string[] = []): Promise<{ inspection: Inspection; inRemote: Set<string> }> {
  const live = await kubectl.readRecord(env.name);
  const data = live?.data ?? {};
  const candidates = [data['revision'] ?? '', data['previousRevision'] ?? '', ...extraCommits].filter((c) => isCommitSha(c));
  const inRemote = await commitsInRemote(remote, candidates, ioEnv);
  const problems: string[] = [];
  if (live) {
    problems.push(...stateRecordProblems({ data, ...(live.metadata.managedFields ? { managedFields: live.metadata.managedFields } : {}) }, env.name, keys, hmacSha256));
    for (const field of ['revision', 'previousRevision'] as const) {
      const commit = data[field] ?? '';
      if (isCommitSha(commit) && !inRemote.has(commit)) problems.push(`${field} ${commit} is not a commit of the GitOps remote`);
    }
    const extra = Object.keys(data).filter((k) => !(STATE_RECORD_FIELDS as readonly string[]).includes(k) && k !== STATE_SIGNATURE_FIELD);
    if (extra.length > 0) problems.push(`data holds keys that are no part of the record: ${extra.join(', ')}`);
  }
  const app = env.argocd;
  const synced = app ? await kubectl.readApplication(app.namespace, app.application) : undefined;
  return {
    inRemote,
    inspection: {
      environment: env.name,
      context: env.cluster.context,
      configMap: `${STATE_NAMESPACE}/${stateConfigMapName(env.name)}`,
      live,
      record: live ? { ...data } : null,
      problems,
      foreignOwners: foreignDataOwners(live?.metadata.managedFields).map(({ manager, fields }) => ({ manager, fields })),
      argocd: app && synced ? { application: `${app.namespace}/${app.application}`, ...synced } : null,
    },
  };
}

function printInspection(ctx: CommandContext, i: Inspection): void {
  ctx.line(`deployed-state record ConfigMap ${printable(i.configMap)} on cluster context "${printable(i.context)}"`);
  if (!i.record) ctx.line('  absent: nothing was ever recorded for this environment');
  else ctx.printTable(['field', 'value'], Object.entries(i.record).map(([k, v]) => [k, v === '' ? '(empty)' : v]));
  if (i.problems.length === 0) ctx.line(i.record ? 'checks: all pass (signature, commit SHAs in the GitOps remote, owned only by logstack)' : 'checks: none (no record)');
  else {
    ctx.line('checks failed:');
    for (const problem of i.problems) ctx.line(`  ✗ ${printable(problem)}`);
  }
  ctx.line(i.argocd ? `Argo CD Application ${printable(i.argocd.application)}: synced revision ${printable(i.argocd.revision ?? '(none)')} (${printable(i.argocd.sync ?? 'unknown')}, ${printable(i.argocd.health ?? 'unknown')})` : 'Argo CD Application: none for this environment');
}

const inspectionJson = (i: Inspection) => ({
  environment: i.environment,
  context: i.context,
  configMap: i.configMap,
  record: i.record,
  ok: i.problems.length === 0,
  problems: i.problems,
  foreignOwners: i.foreignOwners,
  argocd: i.argocd,
});

/** The record `state repair` writes: what the person stated, else what the stored record says, when usable. */
function repairedRecord(environment: string, record: Readonly<Record<string, string>> | null, inRemote: Set<string>, opts: { revision?: string; verified?: boolean }, now: Date): StateRecordData {
  const stored = stateRecordData(record ?? {});
  const revision = opts.revision ?? stored.revision;
  if (!record && opts.revision === undefined) throw new CliError(`no record exists for ${environment}; pass --revision <sha> (and --verified or --no-verified) to write one`, ExitCode.usage);
  if (!isCommitSha(revision)) throw new CliError(`${opts.revision === undefined ? `the record's revision ${JSON.stringify(revision)}` : `--revision ${JSON.stringify(revision)}`} is not a full 40-hex commit SHA; pass --revision <full sha> with the commit that is really deployed`, ExitCode.usage);
  if (!inRemote.has(revision)) throw new CliError(`revision ${revision} is not a commit of the GitOps remote; pass --revision with a commit of the remote`, ExitCode.usage);
  const verified = opts.verified ?? (stored.verified === 'true' ? true : stored.verified === 'false' ? false : undefined);
  if (verified === undefined) throw new CliError(`the record's verified ${JSON.stringify(stored.verified)} is neither true nor false; pass --verified or --no-verified`, ExitCode.usage);
  const previous = isCommitSha(stored.previousRevision) && inRemote.has(stored.previousRevision) && stored.previousRevision !== revision ? stored.previousRevision : '';
  const keepVerifiedAt = verified && stored.revision === revision && stored.verified === 'true' && !Number.isNaN(Date.parse(stored.verifiedAt));
  return { environment, revision, verified: String(verified), verifiedAt: verified ? (keepVerifiedAt ? stored.verifiedAt : now.toISOString()) : '', previousRevision: previous };
}

/**
 * `logstack state show <env>` and `logstack state repair <env>`: the environment's deployed-state
 * record read straight from its cluster (`KUBECONFIG`, the catalog's context) and checked with the
 * worker's keys (`LOGSTACK_STATE_KEYS`) against the GitOps remote. `show` only reads (exit 1 when a
 * check fails); `repair` rewrites the record signed with the current key and owned only by logstack,
 * after a confirmation (`--yes`; refused without a terminal).
 */
export function registerState(program: Command, runner: Runner): void {
  const state = program.command('state').description("an environment's deployed-state record: show it and its checks, or repair it deliberately");
  const common = (command: Command) =>
    command
      .argument('<env>', 'environment name from the catalog', environmentName)
      .option('--catalog <file>', 'catalog file (default: $LOGSTACK_CATALOG or gitops/environments.yaml)')
      .option('--kubectl <path>', 'kubectl binary (default: $LOGSTACK_KUBECTL, or kubectl on PATH)');

  common(state.command('show'))
    .description('print the record, every check (signature, commits in the GitOps remote, field ownership) and the Argo CD synced revision; exit 1 when a check fails')
    .action((name: string, opts: LocalOptions, command: Command) =>
      runner.run(command, async (ctx) => {
        const { environment, catalog } = loadEnvironment(catalogPath(opts.catalog, ctx.io.env), name);
        const kubectl = new Kubectl(kubectlPath(opts.kubectl, ctx.io.env), environment.cluster.context, ctx.io.env);
        const { inspection } = await inspect(environment, catalog.gitops.remote, kubectl, stateKeys(ctx.io.env), ctx.io.env);
        if (ctx.json) ctx.printJson(inspectionJson(inspection));
        else printInspection(ctx, inspection);
        return inspection.problems.length === 0 ? ExitCode.ok : ExitCode.failed;
      }),
    );

  common(state.command('repair'))
    .description('rewrite the record signed with the current key and owned only by logstack, after showing it and asking')
    .option('--revision <sha>', 'the full commit SHA really deployed (default: the record\'s, when it is one of the remote)')
    .option('--verified', 'the revision passed its gates')
    .option('--no-verified', 'the revision is not verified')
    .option('--yes', 'do not ask for confirmation (needed without a terminal)')
    .addHelpText('after', `\nThe key comes from ${STATE_KEYS_ENV} (the worker's), the cluster from KUBECONFIG and the catalog's context.\nExample:\n  logstack state repair staging --revision 0123456789abcdef0123456789abcdef01234567 --verified`)
    .action((name: string, opts: LocalOptions & { revision?: string; verified?: boolean; yes?: boolean }, command: Command) =>
      runner.run(command, async (ctx) => {
        const { environment, catalog } = loadEnvironment(catalogPath(opts.catalog, ctx.io.env), name);
        const keys = stateKeys(ctx.io.env);
        if (opts.revision !== undefined && !isCommitSha(opts.revision)) throw new CliError(`--revision must be a full 40-hex commit SHA; got ${JSON.stringify(opts.revision)}`, ExitCode.usage);
        const kubectl = new Kubectl(kubectlPath(opts.kubectl, ctx.io.env), environment.cluster.context, ctx.io.env);
        const { inspection, inRemote } = await inspect(environment, catalog.gitops.remote, kubectl, keys, ctx.io.env, opts.revision ? [opts.revision] : []);
        const fields = repairedRecord(environment.name, inspection.record, inRemote, opts, new Date());
        const data = { ...fields, [STATE_SIGNATURE_FIELD]: signStateRecord(fields, keys, hmacSha256) };
        if (!ctx.json) {
          printInspection(ctx, inspection);
          ctx.line(`will write, signed with key "${keys[0]?.id ?? ''}" and owned only by field manager "${STATE_FIELD_MANAGER}":`);
          ctx.printTable(['field', 'value'], STATE_RECORD_FIELDS.map((f) => [f, fields[f] === '' ? '(empty)' : fields[f]]));
        }
        if (!opts.yes) {
          if (!ctx.io.confirm) throw new CliError(`refusing to rewrite ${inspection.configMap} without a confirmation: no terminal to ask; pass --yes`, ExitCode.usage);
          if (!(await ctx.io.confirm(`rewrite ${inspection.configMap} on "${environment.cluster.context}"?`))) {
            ctx.line('nothing changed');
            return ExitCode.rejected;
          }
        }
        await writeRecord(kubectl, environment.name, data, inspection.live === undefined);
        const after = (await inspect(environment, catalog.gitops.remote, kubectl, keys, ctx.io.env)).inspection;
        if (ctx.json) ctx.printJson({ repaired: after.problems.length === 0, before: inspectionJson(inspection), after: inspectionJson(after) });
        else if (after.problems.length === 0) ctx.line(`repaired: ${after.configMap} holds revision ${fields.revision} (verified ${fields.verified}) and passes every check`);
        else ctx.line(`the record still fails: ${after.problems.map(printable).join('; ')}`);
        return after.problems.length === 0 ? ExitCode.ok : ExitCode.failed;
      }),
    );
}

/**
 * Writes the record: server-side apply with force as logstack (taking over the fields others changed),
 * then one JSON patch, guarded by the resourceVersion, that drops every other manager's entry from
 * managedFields and every data key that is no part of the record.
 */
async function writeRecord(kubectl: Kubectl, environment: string, data: Readonly<Record<string, string>>, absent: boolean): Promise<void> {
  if (absent && !(await kubectl.hasNamespace(STATE_NAMESPACE))) {
    await kubectl.apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: STATE_NAMESPACE, labels: { 'app.kubernetes.io/managed-by': 'logstack' } } }], false);
  }
  await kubectl.apply(
    [
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: stateConfigMapName(environment), namespace: STATE_NAMESPACE, labels: { 'app.kubernetes.io/managed-by': 'logstack', 'logstack.io/environment': environment } },
        data,
      },
    ],
    true,
  );
  const live = await kubectl.readRecord(environment);
  if (!live) throw new CliError(`the record of ${environment} vanished while it was repaired; run the repair again`, ExitCode.failed);
  const managed = live.metadata.managedFields ?? [];
  const own = managed.filter((m) => m.manager === STATE_FIELD_MANAGER);
  const extra = Object.keys(live.data ?? {}).filter((k) => !(k in data));
  if (own.length === managed.length && extra.length === 0) return;
  await kubectl.patchRecord(environment, [
    { op: 'test', path: '/metadata/resourceVersion', value: live.metadata.resourceVersion },
    { op: 'replace', path: '/metadata/managedFields', value: own },
    ...extra.map((k) => ({ op: 'remove', path: `/data/${k.replace(/~/g, '~0').replace(/\//g, '~1')}` })),
  ]);
}
