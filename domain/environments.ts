import { z } from 'zod';
import { DomainError, FailureType } from './failures.ts';
import { dns1123Label, dns1123Subdomain, kubeContextName, s3BucketName, secretsManagerName } from './names.ts';
import { personKey, personNameSchema, safeTextSchema } from './text.ts';
import { parseSshPublicKey } from './sshsig.ts';
import { approverKey, approverName } from './approval.ts';
import { notificationTargetsSchema } from './notifications.ts';
import { once } from './once.ts';

/** Gates an environment can require after delivery; each maps to one watch-driven activity. */
export const GateKinds = {
  /** ClusterSecretStore Ready, ExternalSecret synced after a forced refresh, target Secret with exactly the Loki keys. */
  externalSecretsSynced: 'external-secrets-synced',
  /** Every Subscription's installed CSV in phase Succeeded. */
  operatorsSucceeded: 'operators-succeeded',
  /** LokiStack condition Ready=True. */
  lokiStackReady: 'lokistack-ready',
  /** ClusterLogForwarder conditions Authorized, Valid and Ready all True. */
  logForwarderReady: 'log-forwarder-ready',
  /** Argo CD Application synced at the pinned revision, Healthy, last operation Succeeded. */
  argoAppAtRevision: 'argocd-app-at-revision',
} as const;
export type GateKind = (typeof GateKinds)[keyof typeof GateKinds];

/** LokiStack t-shirt sizes the Loki Operator accepts. `1x.demo` is never allowed in production. */
export const LOKI_SIZES = ['1x.demo', '1x.pico', '1x.extra-small', '1x.small', '1x.medium'] as const;
export type LokiSize = (typeof LOKI_SIZES)[number];

/** The supported retention range of the Loki Operator on OpenShift Logging 6. */
export const MAX_RETENTION_DAYS = 30;


/** AWS resources an environment may adopt (`aws.adopt`): its bucket, its Loki secret, its IAM principal. */
export const AWS_ADOPTABLE = ['bucket', 'secret', 'principal'] as const;
/** One adoptable AWS resource kind. */
export type AwsAdoptable = (typeof AWS_ADOPTABLE)[number];

/** An IAM managed policy ARN: customer managed (12-digit account) or AWS managed (`aws`), with an optional path. */
export const IAM_POLICY_ARN = /^arn:aws(-cn|-us-gov)?:iam::(\d{12}|aws):policy\/([\w+=,.@-]+\/)*[\w+=,.@-]{1,128}$/;

/** Builds the catalog's schemas; see {@link catalogSchema}. */
function buildCatalogSchemas() {
  const name = z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,30}$/, 'lowercase letters, digits and dashes, starting with a letter, ≤ 31 chars');

  const bucketName = s3BucketName();

  /** An OpenSSH ed25519 public key line, `ssh-ed25519 AAAA… [comment]`. */
  const sshPublicKey = z
    .string()
    .max(1000)
    .refine(
      (line) => {
        try {
          parseSshPublicKey(line);
          return true;
        } catch {
          return false;
        }
      },
      { message: 'an SSH ed25519 public key: "ssh-ed25519 AAAA… [comment]" (the line of ~/.ssh/id_ed25519.pub)' },
    );

  /** A catalog approver: a person name, or `{ name, key }` with their SSH ed25519 public key (needed by `approvals: signed`). */
  const approverSchema = z.union([personNameSchema(), z.strictObject({ name: personNameSchema(), key: sshPublicKey })]);

  const freezeWindow = z
    .object({
      start: z.iso.datetime({ offset: true }),
      end: z.iso.datetime({ offset: true }),
      reason: safeTextSchema(500, 1),
    })
    .refine((w) => Date.parse(w.start) < Date.parse(w.end), { message: 'freeze window start must be before end' });

  const environmentSchema = z
    .object({
      name,
      cluster: z.object({
        /** kubeconfig context name. */
        context: kubeContextName(),
        /** OIDC issuer (host/path, no scheme) trusted by the STS role; required for `sts` mode. */
        oidcIssuer: z.string().min(1).optional(),
      }),
      aws: z.object({
        region: z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, 'an AWS region such as eu-west-1'),
        bucket: bucketName,
        secretName: secretsManagerName(),
        credentialMode: z.enum(['static', 'sts']),
        /** IAM user (static) or role (sts) name; defaults to `logstack-<env>-loki`. */
        principalName: z.string().min(1).max(64).optional(),
        /**
         * Existing AWS resources logstack may take over although it did not create them (no ownership tags):
         * it then tags them for this environment and manages them. Never another environment's resources.
         */
        adopt: z.array(z.enum(AWS_ADOPTABLE)).optional(),
        /** Managed policy ARN set as the permissions boundary of every IAM principal logstack creates. */
        permissionsBoundary: z.string().regex(IAM_POLICY_ARN, 'an IAM managed policy ARN such as arn:aws:iam::123456789012:policy/boundary').optional(),
      }),
      overlay: z.string().regex(/^gitops\/overlays\/[a-z0-9-]+$/, 'a path like gitops/overlays/<name>'),
      delivery: z.enum(['direct', 'argocd']),
      argocd: z
        .object({
          /** The Argo CD Application's name; also a label value, hence at most 63 characters. */
          application: dns1123Subdomain('argocd.application', 63),
          namespace: dns1123Label('argocd.namespace').default('openshift-gitops'),
        })
        .optional(),
      loki: z.object({
        namespace: dns1123Label('loki.namespace').default('openshift-logging'),
        stackName: dns1123Label('loki.stackName').default('logging-loki'),
        secretName: dns1123Subdomain('loki.secretName').default('logging-loki-s3'),
        size: z.enum(LOKI_SIZES),
      }),
      gates: z.array(z.enum(Object.values(GateKinds) as [GateKind, ...GateKind[]])).default([]),
      protected: z.boolean().default(false),
      /**
       * Person names (`domain/text.ts`: NFKC-normalised, compared case-insensitively), each alone or with its SSH
       * ed25519 public key: `{ name: bob, key: "ssh-ed25519 AAAA… bob@example" }`.
       */
      approvers: z.array(approverSchema).default([]),
      /**
       * `signed`: a decision must carry an SSH signature by the approver's catalog key over the request's statement
       * (`domain/approval.ts`); every approver needs a key. `named` (the default): names only, relying on Temporal's
       * authorization of who may send updates.
       */
      approvals: z.enum(['signed', 'named']).optional(),
      retentionDays: z.number().int().min(1).max(MAX_RETENTION_DAYS),
      /**
       * Where the signed evidence records of this environment's promotions, rollouts and rollbacks are kept
       * (`domain/evidence.ts`): a bucket logstack creates with object lock and versioning, under `prefix`.
       * `retentionDays` is the object-lock (governance) retention of each record. Absent: records are kept in
       * Git only (Argo CD delivery) or only in the run's history.
       */
      evidence: z
        .object({
          bucket: bucketName,
          prefix: z.string().regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, 'a key prefix like logstack/evidence (no leading or trailing /)').default('logstack-evidence'),
          retentionDays: z.number().int().min(1).max(36500).default(365),
        })
        .optional(),
      freezeWindows: z.array(freezeWindow).default([]),
      /**
       * Where this environment's events are sent (`domain/notifications.ts`): `[{ name?, format, url | urlFrom }]`,
       * format `slack`, `teams` or `generic`; the URL from a worker variable (`urlFrom: {env: LOGSTACK_NOTIFY_…}`) or
       * a Secrets Manager secret (`urlFrom: {secretsManager: …}`), a plain `url` only for a receiver without a token.
       */
      notifications: notificationTargetsSchema().optional(),
    })
    .superRefine((env, ctx) => {
      if (env.delivery === 'argocd' && !env.argocd) {
        ctx.addIssue({ code: 'custom', path: ['argocd'], message: 'delivery "argocd" needs argocd.application' });
      }
      if (env.aws.credentialMode === 'sts' && !env.cluster.oidcIssuer) {
        ctx.addIssue({ code: 'custom', path: ['cluster', 'oidcIssuer'], message: 'credentialMode "sts" needs cluster.oidcIssuer' });
      }
      const names = env.approvers.map(approverName);
      const keys = names.map(personKey);
      const twice = names.find((_, i) => keys.indexOf(keys[i] ?? '') !== i);
      if (twice !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['approvers'], message: `"${twice}" is listed twice (names are compared case-insensitively after NFKC)` });
      }
      if (env.approvals === 'signed') {
        env.approvers.forEach((approver, i) => {
          if (approverKey(approver) === undefined) {
            ctx.addIssue({ code: 'custom', path: ['approvers', i], message: `approvals: signed needs a key for every approver; "${approverName(approver)}" has none (write { name, key: "ssh-ed25519 AAAA…" })` });
          }
        });
      }
      // One key is one identity: four-eyes compares keys, so two approvers may not share one.
      const sshKeys = env.approvers.map((a) => {
        const key = approverKey(a);
        if (key === undefined) return undefined;
        try {
          return parseSshPublicKey(key).canonical;
        } catch {
          return undefined;
        }
      });
      sshKeys.forEach((key, i) => {
        if (key !== undefined && sshKeys.indexOf(key) !== i) {
          ctx.addIssue({ code: 'custom', path: ['approvers', i, 'key'], message: `"${names[i] ?? ''}" has the same key as "${names[sshKeys.indexOf(key)] ?? ''}"; each approver needs their own key` });
        }
      });
      if (env.protected && new Set(keys).size < 2) {
        ctx.addIssue({ code: 'custom', path: ['approvers'], message: 'a protected environment needs at least two approvers (four-eyes)' });
      }
    });

  /** The environment catalog, `gitops/environments.yaml`. */
  const catalogSchema = z
    .object({
      apiVersion: z.literal('logstack.io/v1'),
      kind: z.literal('EnvironmentCatalog'),
      /** Environment names from first to last stage; promotion only moves one step along it. */
      promotionOrder: z.array(name).min(1),
      gitops: z.object({
        /** Git remote URL the pins are pushed to. */
        remote: z.string().min(1),
        branch: z.string().min(1).default('main'),
      }),
      environments: z.array(environmentSchema).min(1),
    })
    .superRefine((cat, ctx) => {
      const names = cat.environments.map((e) => e.name);
      const dup = names.find((n, i) => names.indexOf(n) !== i);
      if (dup) ctx.addIssue({ code: 'custom', path: ['environments'], message: `environment "${dup}" is listed twice` });
      for (const stage of cat.promotionOrder) {
        if (!names.includes(stage)) {
          ctx.addIssue({ code: 'custom', path: ['promotionOrder'], message: `promotionOrder names "${stage}", which has no entry in environments` });
        }
      }
      for (const env of cat.environments) {
        if (env.protected && env.loki.size === '1x.demo') {
          ctx.addIssue({ code: 'custom', path: ['environments', env.name, 'loki', 'size'], message: `${env.name}: 1x.demo is not for protected environments` });
        }
      }
    });
  return { environmentSchema, catalogSchema };
}

const catalogSchemas = once(buildCatalogSchemas);
type CatalogSchemas = ReturnType<typeof buildCatalogSchemas>;

/**
 * The schema of the environment catalog, `gitops/environments.yaml`: built on first use and kept (workflows never
 * parse a catalog, so the workflow bundle's modules do not build it for every cached workflow).
 */
export function catalogSchema(): CatalogSchemas['catalogSchema'] {
  return catalogSchemas().catalogSchema;
}

/** A validated environment entry (defaults applied). */
export type Environment = z.output<CatalogSchemas['environmentSchema']>;
/** A validated catalog (defaults applied). */
export type Catalog = z.output<CatalogSchemas['catalogSchema']>;
/** What a catalog file may contain before defaults. */
export type CatalogInput = z.input<CatalogSchemas['catalogSchema']>;

/** Formats zod issues as `path: message` lines a person can act on. */
export function formatIssues(error: z.ZodError): string {
  return error.issues.map((i) => `  - ${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('\n');
}

/**
 * Validates a parsed catalog document.
 * @throws DomainError `InvalidInput` listing every problem with its path.
 */
export function parseCatalog(document: unknown, source = 'environment catalog'): Catalog {
  const result = catalogSchema().safeParse(document);
  if (!result.success) {
    throw new DomainError({
      type: FailureType.InvalidInput,
      message: `${source} is invalid; fix these fields:\n${formatIssues(result.error)}`,
      details: { source },
    });
  }
  return result.data;
}

/**
 * Finds an environment by name.
 * @throws DomainError `UnknownEnvironment` listing the known names.
 */
export function findEnvironment(catalog: Catalog, envName: string): Environment {
  const env = catalog.environments.find((e) => e.name === envName);
  if (!env) {
    throw new DomainError({
      type: FailureType.UnknownEnvironment,
      message: `unknown environment "${envName}"; the catalog knows: ${catalog.environments.map((e) => e.name).join(', ')}`,
      details: { environment: envName },
    });
  }
  return env;
}

/** The IAM principal (user or role) name for an environment. */
export function principalName(env: Environment): string {
  return env.aws.principalName ?? `logstack-${env.name}-loki`;
}

/** The stage after `envName` in the promotion order, or undefined at the end or off the order. */
export function nextStage(catalog: Catalog, envName: string): string | undefined {
  const i = catalog.promotionOrder.indexOf(envName);
  return i < 0 ? undefined : catalog.promotionOrder[i + 1];
}

/**
 * Requires `to` to be exactly the stage after `from`.
 * @throws DomainError `InvalidInput` (from = to), `UnknownEnvironment`, or `PromotionOrderViolation`.
 */
export function assertPromotionOrder(catalog: Catalog, from: string, to: string): void {
  if (from === to) {
    throw new DomainError({ type: FailureType.InvalidInput, message: `from and to are both "${from}"; promote to the next stage instead` });
  }
  findEnvironment(catalog, from);
  findEnvironment(catalog, to);
  const expected = nextStage(catalog, from);
  if (expected !== to) {
    throw new DomainError({
      type: FailureType.PromotionOrderViolation,
      message: expected
        ? `"${to}" does not follow "${from}" in the promotion order (${catalog.promotionOrder.join(' → ')}); promote ${from} → ${expected} first`
        : `"${from}" is the last stage of the promotion order (${catalog.promotionOrder.join(' → ')}); nothing follows it`,
      details: { from, to, order: catalog.promotionOrder },
    });
  }
}

/** The freeze window covering `at` (epoch ms), if any. */
export function activeFreeze(env: Environment, at: number): Environment['freezeWindows'][number] | undefined {
  return env.freezeWindows.find((w) => Date.parse(w.start) <= at && at < Date.parse(w.end));
}

/**
 * Refuses a change to a protected environment inside a freeze window.
 * @throws DomainError `ChangeFreeze` naming the window and when it ends.
 */
export function assertNotFrozen(env: Environment, at: number): void {
  const freeze = env.protected ? activeFreeze(env, at) : undefined;
  if (freeze) {
    throw new DomainError({
      type: FailureType.ChangeFreeze,
      message: `${env.name} is in a change freeze until ${freeze.end} (${freeze.reason}); retry after it ends or remove the window from the catalog`,
      details: { environment: env.name, until: freeze.end },
    });
  }
}

/** The Loki object-storage Secret keys the Loki Operator reads, per credential mode (docs/architecture.md#loki-object-storage-secret-s3). */
export const LOKI_SECRET_KEYS = {
  static: ['access_key_id', 'access_key_secret', 'bucketnames', 'endpoint', 'region'],
  sts: ['bucketnames', 'region', 'role_arn'],
} as const satisfies Record<Environment['aws']['credentialMode'], readonly string[]>;

/** The regional S3 endpoint for static credentials: no bucket in it, region matches. */
export function s3Endpoint(region: string): string {
  return `https://s3.${region}.amazonaws.com`;
}
