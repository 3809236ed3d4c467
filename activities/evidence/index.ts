/**
 * `recordEvidence`: signs the statement a workflow built with the worker's evidence key (DSSE, ed25519) and
 * stores the envelope where it outlives Temporal's retention — the environment's S3 evidence location
 * (`evidence` in the catalog) and, for Argo CD delivery, a file beside the pins in Git. Returns the envelope
 * text (which holds nothing the history does not hold already) and where it was stored.
 */
import { createHash } from 'node:crypto';
import type { LogstackActivities } from '../../domain/activity-contract.ts';
import {
  EVIDENCE_KEY_ENV,
  evidenceGitPath,
  evidenceObjectKey,
  evidenceStatementSchema,
  FailureType,
  formatIssues,
  shortSha,
  type EvidenceLocation,
} from '../../domain/index.ts';
import { fromDomainError, nonRetryable } from '../errors.ts';
import type { AwsClients } from '../aws/clients.ts';
import { accountIdLookup, currentCancellationSignal } from '../aws/common.ts';
import type { GitRepo } from '../gitops/git.ts';
import { commitEvidenceFile } from './git.ts';
import { parseEvidenceKey, signedEvidenceText, type EvidenceKey } from './key.ts';
import { ensureEvidenceBucket, putEvidenceObject } from './s3.ts';

export { evidenceKeyId, parseEvidenceKey, signStatement, signedEvidenceText, type EvidenceKey } from './key.ts';

/** What the evidence activity needs. */
export interface EvidenceDeps {
  /** `LOGSTACK_EVIDENCE_KEY` as given; without it `recordEvidence` fails `InvalidInput` saying so. */
  readonly evidenceKey: string | undefined;
  readonly aws: AwsClients;
  /** The GitOps working clone (for Argo CD delivered environments). */
  readonly repo: () => Promise<GitRepo>;
}

/** Builds `recordEvidence`. Parsing the key happens here, at start: a malformed key stops the worker. */
export function createEvidenceActivities(deps: EvidenceDeps): Pick<LogstackActivities, 'recordEvidence'> {
  const key: EvidenceKey | undefined = deps.evidenceKey === undefined || deps.evidenceKey.trim() === '' ? undefined : parseEvidenceKey(deps.evidenceKey);
  const accountId = accountIdLookup(() => deps.aws.sts());
  return {
    recordEvidence: async ({ environment, statement }) => {
      try {
        if (!key) {
          throw nonRetryable(FailureType.InvalidInput, `the worker has no evidence key: set ${EVIDENCE_KEY_ENV} (an ed25519 PKCS#8 PEM or 32-byte seed) and restart it; the run's record is kept in its history meanwhile`);
        }
        const checked = evidenceStatementSchema().safeParse(statement);
        if (!checked.success) throw nonRetryable(FailureType.InvalidInput, `the evidence statement is malformed:\n${formatIssues(checked.error)}`);
        const text = signedEvidenceText(checked.data, key);
        const { workflow, revision, outcome } = checked.data.predicate;
        const location: { s3?: EvidenceLocation['s3']; git?: EvidenceLocation['git'] } = {};
        if (environment.evidence) {
          const signal = currentCancellationSignal();
          const scope = { s3: deps.aws.s3(environment.aws.region), env: environment, location: environment.evidence, accountId: await accountId(signal), signal };
          await ensureEvidenceBucket(scope);
          const objectKey = evidenceObjectKey(environment.evidence.prefix, environment.name, workflow.id, workflow.runId);
          const put = await putEvidenceObject(scope, objectKey, text);
          location.s3 = { bucket: environment.evidence.bucket, key: objectKey, ...(put.versionId !== undefined ? { versionId: put.versionId } : {}) };
        }
        if (environment.delivery === 'argocd') {
          const path = evidenceGitPath(environment.name, workflow.id);
          const committed = await commitEvidenceFile(await deps.repo(), path, text, [
            `Evidence of ${workflow.type} ${workflow.id} in ${environment.name}: ${shortSha(revision)} ${outcome}`,
            `DSSE envelope of the in-toto statement of run ${workflow.runId}, signed by evidence key ${key.keyid}.`,
          ]);
          location.git = { path, commit: committed.commit };
        }
        return { envelope: text, keyid: key.keyid, sha256: createHash('sha256').update(text).digest('hex'), location };
      } catch (error) {
        const signal = currentCancellationSignal();
        if (signal?.aborted === true && signal.reason !== undefined) throw signal.reason;
        throw fromDomainError(error);
      }
    },
  };
}
