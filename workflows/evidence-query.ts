/**
 * The `evidence` query, defined apart from the workflow code so the client imports only the definition: the
 * DSSE envelope text of the run's signed evidence record (exactly the bytes stored in S3 and Git), or null
 * while the run has recorded none. Answered after the run closed too, while its history is retained.
 */
import { defineQuery } from '@temporalio/workflow';
import type { EvidenceLocation } from '../domain/index.ts';

/** The envelope text and where it was stored; null before the record is written. */
export interface EvidenceAnswer {
  readonly envelope: string;
  readonly keyid: string;
  readonly sha256: string;
  readonly location: EvidenceLocation;
}

/** Returns the run's evidence record, or null when it has none (yet). */
export const evidenceQuery = defineQuery<EvidenceAnswer | null>('evidence');
