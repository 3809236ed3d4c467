/**
 * The evidence record of a promotion, rollout or rollback: an in-toto Statement v1 whose subject is the Git
 * commit delivered and whose predicate (`https://logstack.io/promotion/v1`) says what happened, wrapped in a
 * DSSE envelope signed by the worker's evidence key. Pure, so the worker (which signs, in
 * `activities/evidence/`) and `logstack evidence verify` (which checks, offline) apply exactly the same
 * encoding: canonical JSON for the statement, the DSSE pre-authentication encoding (PAE) for the signed
 * bytes, and one canonical text for the whole envelope, so that any changed byte of a stored record fails.
 * The signature itself is computed and checked by the caller's runtime (ed25519 through `node:crypto`).
 */
import { z } from 'zod';
import { once } from './once.ts';
import { approverKey, approverName, verifyApprovalSignature } from './approval.ts';
import type { Catalog } from './environments.ts';
import { samePerson } from './text.ts';

/** The in-toto Statement type. */
export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
/** The predicate type of logstack's records. */
export const EVIDENCE_PREDICATE_TYPE = 'https://logstack.io/promotion/v1';
/** DSSE payload type of an in-toto statement. */
export const EVIDENCE_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
/** The worker's evidence signing key: an ed25519 PKCS#8 PEM, or its 32-byte seed (base64 or hex). */
export const EVIDENCE_KEY_ENV = 'LOGSTACK_EVIDENCE_KEY';

/** How a run ended, as the record states it. */
export const EvidenceOutcome = {
  succeeded: 'succeeded',
  rolledBack: 'rolled-back',
  failed: 'failed',
} as const;
export type EvidenceOutcome = (typeof EvidenceOutcome)[keyof typeof EvidenceOutcome];

/** Builds the record's schemas; see {@link evidenceStatementSchema}. */
function buildEvidenceSchemas() {
  const sha = z.string().regex(/^[0-9a-f]{40}$/, 'a full 40-hex commit SHA');
  const time = z.iso.datetime({ offset: true });

  /** One approval as the workflow held it; `signature` (SSHSIG armored text) when the approver signed. */
  const approvalSchema = z.strictObject({
    name: z.string().min(1),
    decision: z.enum(['approve', 'reject']),
    at: time,
    digest: z.string().nullable(),
    signature: z.string().optional(),
    /** The time written in the signed statement (signed approvals only): with the rest of the record it rebuilds the statement. */
    signedTime: time.optional(),
    comment: z.string().optional(),
  });

  /** One gate the revision passed, with the time it was observed passed. */
  const gateSchema = z.strictObject({ gate: z.string().min(1), passedAt: time, detail: z.string().optional() });

  /** The predicate: what happened, built from what the workflow's history holds (never a secret value). */
  const evidencePredicateSchema = z.strictObject({
    workflow: z.strictObject({ type: z.string().min(1), id: z.string().min(1), runId: z.string().min(1) }),
    environment: z.string().min(1),
    /** The stage a promotion came from; null for a rollout. */
    from: z.string().nullable(),
    to: z.string().min(1),
    revision: sha,
    previousRevision: sha.nullable(),
    outcome: z.enum(EvidenceOutcome),
    /** Why it failed, for `outcome: failed` (a failure type and message, no secret material). */
    failure: z.string().optional(),
    delivery: z.strictObject({ mode: z.enum(['direct', 'argocd']), pinCommit: sha.optional() }),
    /** The digest of the diff shown to (and approved by) the approvers; null when no diff was computed. */
    diffDigest: z.string().nullable(),
    approvals: z.array(approvalSchema),
    gates: z.array(gateSchema),
    /** The automatic rollback, when there was one: the revision returned to and the gates it passed again. */
    rollback: z.strictObject({ to: sha, gates: z.array(gateSchema) }).nullable(),
    startedAt: time,
    finishedAt: time,
  });

  /** The in-toto Statement v1 of a record. */
  const evidenceStatementSchema = z.strictObject({
    _type: z.literal(STATEMENT_TYPE),
    subject: z
      .array(z.strictObject({ name: z.string().min(1), digest: z.strictObject({ gitCommit: sha }) }))
      .length(1),
    predicateType: z.literal(EVIDENCE_PREDICATE_TYPE),
    predicate: evidencePredicateSchema,
  });
  return { approvalSchema, gateSchema, evidencePredicateSchema, evidenceStatementSchema };
}

const evidenceSchemas = once(buildEvidenceSchemas);
type EvidenceSchemas = ReturnType<typeof buildEvidenceSchemas>;

/** One approval as the workflow held it; `signature` (SSHSIG armored text) when the approver signed. */
export type EvidenceApproval = z.infer<EvidenceSchemas['approvalSchema']>;
/** One gate the revision passed, with the time it was observed passed. */
export type EvidenceGate = z.infer<EvidenceSchemas['gateSchema']>;
/** The predicate: what happened, built from what the workflow's history holds (never a secret value). */
export type EvidencePredicate = z.infer<EvidenceSchemas['evidencePredicateSchema']>;
/** The in-toto Statement v1 of a record. */
export type EvidenceStatement = z.infer<EvidenceSchemas['evidenceStatementSchema']>;

/** The schema of a record's in-toto Statement v1: built on first use and kept (workflows never parse one). */
export function evidenceStatementSchema(): EvidenceSchemas['evidenceStatementSchema'] {
  return evidenceSchemas().evidenceStatementSchema;
}

/** One DSSE signature. */
export interface DsseSignature {
  readonly keyid: string;
  /** Standard base64 of the raw signature. */
  readonly sig: string;
}

/** A DSSE envelope. */
export interface DsseEnvelope {
  readonly payloadType: string;
  /** Standard base64 of the payload bytes. */
  readonly payload: string;
  readonly signatures: readonly DsseSignature[];
}

/** Where a record was stored, as the `record-evidence` step reports it. */
export interface EvidenceLocation {
  readonly s3?: { readonly bucket: string; readonly key: string; readonly versionId?: string };
  readonly git?: { readonly path: string; readonly commit: string };
}

/**
 * `remote` without credentials: the user and password of a URL are dropped (`https://tok@host/x` →
 * `https://host/x`); an scp-like remote (`git@host:repo`) names a login, not a secret, and is kept.
 */
export function remoteWithoutCredentials(remote: string): string {
  const match = /^([a-z][a-z0-9+.-]*:\/\/)([^/@]*@)?(.*)$/i.exec(remote);
  return match ? `${match[1]}${match[3]}` : remote;
}

/** The statement of `predicate` about `commit` of `remote`. */
export function evidenceStatement(remote: string, commit: string, predicate: EvidencePredicate): EvidenceStatement {
  return {
    _type: STATEMENT_TYPE,
    subject: [{ name: `${remoteWithoutCredentials(remote)}@${commit}`, digest: { gitCommit: commit } }],
    predicateType: EVIDENCE_PREDICATE_TYPE,
    predicate,
  };
}

/** JSON with object keys sorted at every level and no whitespace: one text per value. */
export function canonicalEvidenceJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalEvidenceJson(v)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalEvidenceJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

const utf8 = new TextEncoder();

/** The payload bytes of a statement: its canonical JSON, UTF-8. */
export function statementBytes(statement: EvidenceStatement): Uint8Array {
  return utf8.encode(canonicalEvidenceJson(statement));
}

/**
 * DSSE v1 pre-authentication encoding: `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in
 * ASCII decimal bytes. This, not the payload, is what the signature covers.
 */
export function preAuthEncoding(payloadType: string, payload: Uint8Array): Uint8Array {
  const type = utf8.encode(payloadType);
  const head = utf8.encode(`DSSEv1 ${type.length} ${payloadType} ${payload.length} `);
  const out = new Uint8Array(head.length + payload.length);
  out.set(head, 0);
  out.set(payload, head.length);
  return out;
}

/** Standard, padded base64. */
export function dsseBase64(data: Uint8Array): string {
  let text = '';
  for (const byte of data) text += String.fromCharCode(byte);
  return btoa(text);
}

/** The bytes of standard padded base64; null when the text is not exactly that. */
export function dsseBytes(text: string): Uint8Array | null {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) return null;
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  // Only one text encodes given bytes: non-zero padding bits would let two texts carry one payload.
  return dsseBase64(bytes) === text ? bytes : null;
}

/** The one text of an envelope as stored and fetched: compact JSON in DSSE's field order, and a newline. */
export function envelopeText(envelope: DsseEnvelope): string {
  const signatures = envelope.signatures.map((s) => ({ keyid: s.keyid, sig: s.sig }));
  return `${JSON.stringify({ payloadType: envelope.payloadType, payload: envelope.payload, signatures })}\n`;
}

/** S3 object key of a record: `<prefix>/<env>/<workflowId>/<runId>.intoto.json` (no empty segment). */
export function evidenceObjectKey(prefix: string, environment: string, workflowId: string, runId: string): string {
  const base = prefix.replace(/^\/+|\/+$/g, '');
  return `${base === '' ? '' : `${base}/`}${environment}/${workflowId}/${runId}.intoto.json`;
}

/** Repository path of a record beside the pins: `evidence/<env>/<workflowId>.intoto.json`. */
export function evidenceGitPath(environment: string, workflowId: string): string {
  return `evidence/${environment}/${workflowId}.intoto.json`;
}

/** Checks one DSSE signature over the PAE bytes with the caller's runtime; `keyid` names the key it holds. */
export interface EvidenceKeyVerifier {
  readonly keyid: string;
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

/**
 * The hook for approvals' own signatures (SSHSIG over the canonical approval statement): given one approval
 * and the statement it belongs to, says why it does not verify, or null when it does. Wired by the caller.
 */
export type ApprovalSignatureVerifier = (
  approval: EvidenceApproval,
  statement: EvidenceStatement,
) => string | null | Promise<string | null>;

/** What `verifyEvidence` checks beyond the envelope. */
export interface EvidenceChecks {
  readonly key: EvidenceKeyVerifier;
  /** Whether the subject commit exists (e.g. in a local clone); skipped when absent. */
  readonly commitExists?: (commit: string) => boolean | Promise<boolean>;
  /** Verification of the approvals' signatures; skipped when absent (approvals are then reported unchecked). */
  readonly approvals?: ApprovalSignatureVerifier;
}

/** The verdict of {@link verifyEvidence}: the statement when every check passed, else why not. */
export type EvidenceVerdict =
  | { readonly ok: true; readonly statement: EvidenceStatement; readonly notes: readonly string[] }
  | { readonly ok: false; readonly problems: readonly string[] };

function parseEnvelope(text: string): { envelope: DsseEnvelope } | { problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { problem: `the file is not JSON (${(error as Error).message})` };
  }
  const shape = z
    .strictObject({
      payloadType: z.string(),
      payload: z.string(),
      signatures: z.array(z.strictObject({ keyid: z.string(), sig: z.string() })).min(1),
    })
    .safeParse(value);
  if (!shape.success) {
    return { problem: `not a DSSE envelope: ${shape.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ')}` };
  }
  return { envelope: shape.data };
}

/**
 * Verifies a stored record offline: the text is exactly the canonical envelope (so no byte anywhere can
 * change unnoticed), the payload type is in-toto's, a signature by `checks.key` verifies over the PAE of the
 * payload, the payload is a logstack Statement v1 in canonical JSON, the subject commit exists (when asked),
 * and each approval's signature verifies through the hook (when given). Each failed check names why.
 */
export async function verifyEvidence(text: string, checks: EvidenceChecks): Promise<EvidenceVerdict> {
  const parsed = parseEnvelope(text);
  if ('problem' in parsed) return { ok: false, problems: [parsed.problem] };
  const { envelope } = parsed;
  const problems: string[] = [];
  if (envelopeText(envelope) !== text) {
    problems.push('the file is not the canonical envelope text as logstack wrote it (a byte outside the signed payload was changed, added or removed)');
  }
  if (envelope.payloadType !== EVIDENCE_PAYLOAD_TYPE) {
    problems.push(`payloadType is "${envelope.payloadType}", want "${EVIDENCE_PAYLOAD_TYPE}"`);
  }
  const payload = dsseBytes(envelope.payload);
  if (payload === null) return { ok: false, problems: [...problems, 'payload is not canonical base64'] };
  const mine = envelope.signatures.filter((s) => s.keyid === checks.key.keyid);
  if (mine.length === 0) {
    problems.push(`no signature by the given key: the envelope names keyid ${envelope.signatures.map((s) => s.keyid).join(', ')}, the key given is ${checks.key.keyid}`);
  } else {
    const message = preAuthEncoding(envelope.payloadType, payload);
    const good = mine.some((s) => {
      const sig = dsseBytes(s.sig);
      return sig !== null && checks.key.verify(message, sig);
    });
    if (!good) problems.push(`the signature of keyid ${checks.key.keyid} does not verify over the payload (the payload, its type or the signature was changed)`);
  }
  const payloadText = new TextDecoder('utf-8', { fatal: false }).decode(payload);
  let statementValue: unknown;
  try {
    statementValue = JSON.parse(payloadText);
  } catch {
    return { ok: false, problems: [...problems, 'the payload is not JSON'] };
  }
  const statement = evidenceStatementSchema().safeParse(statementValue);
  if (!statement.success) {
    problems.push(`the payload is not a logstack Statement v1: ${statement.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ')}`);
    return { ok: false, problems };
  }
  if (canonicalEvidenceJson(statement.data) !== payloadText) problems.push('the payload is not the canonical JSON of its statement');
  const commit = statement.data.subject[0]?.digest.gitCommit ?? '';
  if (statement.data.predicate.revision !== commit) problems.push(`the subject commit ${commit} is not the predicate's revision ${statement.data.predicate.revision}`);
  const notes: string[] = [];
  if (checks.commitExists) {
    if (!(await checks.commitExists(commit))) problems.push(`the subject commit ${commit} does not exist in the given repository`);
  } else notes.push('subject commit not checked (no repository given)');
  const signed = statement.data.predicate.approvals.filter((a) => a.signature !== undefined);
  if (checks.approvals) {
    for (const approval of statement.data.predicate.approvals) {
      const why = await checks.approvals(approval, statement.data);
      if (why !== null) problems.push(`the approval by ${approval.name} does not verify: ${why}`);
    }
  } else if (signed.length > 0) notes.push(`${signed.length} approval signature(s) not checked (no approval verifier wired)`);
  return problems.length > 0 ? { ok: false, problems } : { ok: true, statement: statement.data, notes };
}

/**
 * The approvals' signature check against a catalog: each signed approval of a record must verify — SSHSIG in the
 * `logstack-approval` namespace over the statement rebuilt from the record (workflow and run, environment,
 * revision, the approved diff's digest, decision, comment, approver and the signed time) — by the key the catalog
 * lists for that approver of that environment. Unsigned approvals (`approvals: named`) pass: they carry nothing to
 * check. Pure and synchronous: runs offline, on Node and Deno.
 */
export function catalogApprovalVerifier(catalog: Pick<Catalog, 'environments'>): ApprovalSignatureVerifier {
  return (approval, statement) => {
    if (approval.signature === undefined) return null;
    const p = statement.predicate;
    const env = catalog.environments.find((e) => e.name === p.environment);
    if (env === undefined) return `the catalog has no environment "${p.environment}"`;
    const approver = env.approvers.find((a) => samePerson(approverName(a), approval.name));
    const key = approver === undefined ? undefined : approverKey(approver);
    if (key === undefined) return `the catalog lists no key for approver "${approval.name}" of ${p.environment}`;
    if (approval.signedTime === undefined || approval.digest === null) return 'the record lacks the signed time or the approved digest';
    try {
      const verdict = verifyApprovalSignature(
        {
          workflowId: p.workflow.id,
          runId: p.workflow.runId,
          environment: p.environment,
          revision: p.revision,
          digest: approval.digest,
          decision: approval.decision,
          comment: approval.comment,
          by: approval.name,
          time: approval.signedTime,
        },
        approval.signature,
        key,
      );
      return verdict.ok ? null : verdict.message;
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
  };
}
