/**
 * Signed approvals: the canonical statement of an approval request an approver signs with their SSH key
 * (`ssh-keygen -Y sign -n logstack-approval`), and its verification against the catalog. Pure and synchronous:
 * the workflow's update validator runs it, the CLI builds the same statement, and evidence records re-check it.
 */
import { DomainError, FailureType } from './failures.ts';
import type { Environment } from './environments.ts';
import { personKey, samePerson } from './text.ts';
import { parseSshPublicKey, verifySshSignature } from './sshsig.ts';

/** The SSHSIG namespace of approval signatures: `ssh-keygen -Y sign -n logstack-approval`. */
export const APPROVAL_NAMESPACE = 'logstack-approval';
/** First line of every approval statement; a new format gets a new version. */
export const APPROVAL_STATEMENT_VERSION = 'logstack-approval/v1';
/** How far a statement's time may be before the request was shown (the signer's clock running behind). */
export const APPROVAL_TIME_SKEW_MS = 60_000;
/** How far a statement's time may be ahead of workflow time when the decision arrives. */
export const APPROVAL_TIME_AHEAD_MS = 5 * 60_000;

/** How an environment's approvals are checked: `signed` (SSH signatures by catalog keys) or `named` (names only). */
export type ApprovalMode = 'signed' | 'named';

/** One catalog approver: a name, or a name with its SSH ed25519 public key. */
export type Approver = string | { readonly name: string; readonly key: string };

/** An approver's name. */
export function approverName(approver: Approver): string {
  return typeof approver === 'string' ? approver : approver.name;
}

/** An approver's SSH public key line, if the catalog gives one. */
export function approverKey(approver: Approver): string | undefined {
  return typeof approver === 'string' ? undefined : approver.key;
}

/** The approver names of an environment, in catalog order. */
export function approverNames(env: Pick<Environment, 'approvers'>): string[] {
  return env.approvers.map(approverName);
}

/** The approval mode of an environment; `named` when the catalog (or a history recorded before the field) has none. */
export function approvalMode(env: Pick<Environment, 'approvals'>): ApprovalMode {
  return env.approvals ?? 'named';
}

/** What the statement binds: the request as shown, and the decision. */
export interface ApprovalStatementFields {
  readonly workflowId: string;
  readonly runId: string;
  readonly environment: string;
  /** Full commit SHA being promoted. */
  readonly revision: string;
  /** `progress.awaitingApproval.digest`: the diff shown. */
  readonly digest: string;
  readonly decision: 'approve' | 'reject';
  /** Rejection reason (reject only). */
  readonly reason?: string | undefined;
  /** Approval comment (approve only, when given). */
  readonly comment?: string | undefined;
  /** The approver's name, as sent in `by`. */
  readonly by: string;
  /** ISO-8601 UTC time chosen by the signer, sent in `time`. */
  readonly time: string;
}

/**
 * The canonical statement, byte for byte (UTF-8, `\n` line ends, a final `\n`): the version line, then one
 * `key: "value"` line each — `workflow-id`, `run-id`, `environment`, `revision`, `digest`, `decision`,
 * `comment` (approve, when given) or `reason` (reject), `approver`, `time` — each value JSON-quoted, so no
 * value can forge another line.
 */
export function approvalStatement(fields: ApprovalStatementFields): string {
  const lines: [string, string][] = [
    ['workflow-id', fields.workflowId],
    ['run-id', fields.runId],
    ['environment', fields.environment],
    ['revision', fields.revision],
    ['digest', fields.digest],
    ['decision', fields.decision],
  ];
  if (fields.decision === 'approve' && fields.comment !== undefined && fields.comment !== '') lines.push(['comment', fields.comment]);
  if (fields.decision === 'reject') lines.push(['reason', fields.reason ?? '']);
  lines.push(['approver', fields.by], ['time', fields.time]);
  return `${APPROVAL_STATEMENT_VERSION}\n${lines.map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join('\n')}\n`;
}

/**
 * Refuses a statement time outside the window: not earlier than {@link APPROVAL_TIME_SKEW_MS} before the request was
 * shown (`shownAt`), not later than {@link APPROVAL_TIME_AHEAD_MS} after `now` (workflow time).
 * @throws DomainError `NotAuthorized` naming the window.
 */
export function assertApprovalTime(time: string, shownAt: string, now: number): void {
  const at = Date.parse(time);
  const shown = Date.parse(shownAt);
  if (!Number.isFinite(at)) throw new DomainError({ type: FailureType.InvalidInput, message: `time "${time}" is not an ISO-8601 time` });
  if (at < shown - APPROVAL_TIME_SKEW_MS) {
    throw new DomainError({
      type: FailureType.NotAuthorized,
      message: `the signed time ${time} is before this request was shown (${shownAt}); sign the statement of the request waiting now`,
    });
  }
  if (at > now + APPROVAL_TIME_AHEAD_MS) {
    throw new DomainError({
      type: FailureType.NotAuthorized,
      message: `the signed time ${time} is more than ${APPROVAL_TIME_AHEAD_MS / 60_000} minutes ahead of workflow time ${new Date(now).toISOString()}; check the signer's clock`,
    });
  }
}

/** The request an approval must be signed for, as the workflow knows it. */
export interface SignedRequest {
  readonly workflowId: string;
  readonly runId: string;
  readonly revision: string;
  readonly digest: string;
  /** Workflow time the request was shown (ISO). */
  readonly shownAt: string;
  readonly requestedBy: string | undefined;
}

/** The decision as received: `by`, the signature and the signer's time, and the free text it binds. */
export interface SignedDecision {
  readonly decision: 'approve' | 'reject';
  readonly by: string;
  readonly signature: string | undefined;
  readonly time: string | undefined;
  readonly comment?: string | undefined;
  readonly reason?: string | undefined;
}

function notAuthorized(message: string, details?: Record<string, unknown>): DomainError {
  return new DomainError({ type: FailureType.NotAuthorized, message, ...(details ? { details } : {}) });
}

/**
 * Checks a decision's signature and four-eyes by key. A decision on a `signed` environment must carry `signature`
 * and `time`; on a `named` one a signature, when given, is checked the same way. The signature must be an SSHSIG
 * in namespace {@link APPROVAL_NAMESPACE}, by the catalog key of the approver named in `by`, over exactly
 * {@link approvalStatement} of this request; its time within {@link assertApprovalTime}'s window. On a protected
 * environment the requester's key (the key listed for the approver whose name is the requester's) may not decide.
 * The allow-list and the name form of four-eyes are the caller's.
 * @returns the approver's canonical key when a signature was verified, else undefined.
 * @throws DomainError `InvalidInput` (malformed signature, signature without time), `NotAuthorized` (everything else).
 */
export function verifySignedDecision(env: Environment, request: SignedRequest, decision: SignedDecision, now: number): string | undefined {
  const mode = approvalMode(env);
  if (decision.signature === undefined) {
    if (mode === 'signed') {
      throw notAuthorized(
        `${env.name} takes signed approvals only: sign the statement (logstack approval statement <workflow-id> --by ${decision.by} | ssh-keygen -Y sign -n ${APPROVAL_NAMESPACE} -f <key>) and send it as "signature" with its "time", or use logstack ${decision.decision} ${env.name} --by ${decision.by} --key <key>`,
      );
    }
    return undefined;
  }
  if (decision.time === undefined) {
    throw new DomainError({ type: FailureType.InvalidInput, message: 'a signed decision needs "time": the time written in the signed statement' });
  }
  const approver = env.approvers.find((a) => samePerson(approverName(a), decision.by));
  const key = approver === undefined ? undefined : approverKey(approver);
  if (key === undefined) {
    throw notAuthorized(`"${decision.by}" has no SSH key in the catalog of ${env.name}, so no signature by them can be verified`);
  }
  assertApprovalTime(decision.time, request.shownAt, now);
  const statement = approvalStatement({
    workflowId: request.workflowId,
    runId: request.runId,
    environment: env.name,
    revision: request.revision,
    digest: request.digest,
    decision: decision.decision,
    comment: decision.comment,
    reason: decision.reason,
    by: decision.by,
    time: decision.time,
  });
  const result = verifySshSignature(decision.signature, statement, APPROVAL_NAMESPACE, key);
  if (!result.ok) {
    const why =
      result.reason === 'signature'
        ? `the signature does not verify over the statement of this request (workflow ${request.workflowId}, run ${request.runId}, revision ${request.revision}, diff ${request.digest}): it was made for another run, revision or diff, or the statement was altered; print it again with logstack approval statement ${request.workflowId}`
        : result.message;
    throw notAuthorized(`not ${decision.decision === 'approve' ? 'approved' : 'rejected'}: ${why}`);
  }
  if (env.protected && request.requestedBy !== undefined) {
    const requester = env.approvers.find((a) => samePerson(approverName(a), request.requestedBy ?? ''));
    const requesterKey = requester === undefined ? undefined : approverKey(requester);
    if (requesterKey !== undefined && parseSshPublicKey(requesterKey).canonical === result.signature.publicKey.canonical) {
      throw notAuthorized(
        `four-eyes: the key that signed is ${request.requestedBy}'s, who requested this change to ${env.name}; ask another approver (${approverNames(env)
          .filter((n) => personKey(n) !== personKey(request.requestedBy ?? ''))
          .join(', ')})`,
      );
    }
  }
  return result.signature.publicKey.canonical;
}

/**
 * Checks one recorded signed decision offline (e.g. inside an evidence record): the signature must be an SSHSIG in
 * namespace {@link APPROVAL_NAMESPACE} by `publicKey` (an OpenSSH key line) over exactly
 * `approvalStatement(fields)`. No time window: the workflow checked it when the decision arrived.
 * @returns the verification; `ok: false` names why (namespace, key, signature).
 * @throws DomainError `InvalidInput` when the signature or the key is malformed.
 */
export function verifyApprovalSignature(fields: ApprovalStatementFields, signature: string, publicKey: string): ReturnType<typeof verifySshSignature> {
  return verifySshSignature(signature, approvalStatement(fields), APPROVAL_NAMESPACE, publicKey);
}
