/** The evidence step: sign the run's in-toto statement and store it where it outlives the history. */
import { shortSha, type EvidenceLocation, type EvidenceStatement } from '../../domain/index.ts';
import { defineStep } from './step.ts';
import type { EnvironmentInput } from './aws.ts';

/** Input of `record-evidence`. */
export interface EvidenceInput extends EnvironmentInput {
  readonly statement: EvidenceStatement;
}

/** Where a record is, in one line. */
export function describeLocation(location: EvidenceLocation): string {
  const places = [
    ...(location.s3 ? [`s3://${location.s3.bucket}/${location.s3.key}`] : []),
    ...(location.git ? [`git ${location.git.path} at ${shortSha(location.git.commit)}`] : []),
  ];
  return places.length > 0 ? places.join('; ') : 'kept in the run only (the catalog names no evidence location)';
}

/** `record-evidence`: signs the statement (worker's evidence key) and stores the envelope. Idempotent. */
export const recordEvidence = defineStep({
  profile: 'short',
  timeoutSeconds: 120,
  title: 'record signed evidence',
  summary: ({ environment, statement }: EvidenceInput) =>
    `record evidence of ${shortSha(statement.predicate.revision)} in ${environment.name} (${statement.predicate.outcome})`,
  run: ({ activities, options }, input: EvidenceInput) => activities.recordEvidence.executeWithOptions(options, [input]),
  describe: (r) => `signed by ${r.keyid.slice(0, 16)}…: ${describeLocation(r.location)}`,
});
