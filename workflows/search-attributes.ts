/** Typed search attributes shown in the Web UI and used by `logstack status` to find running workflows. */
import { upsertSearchAttributes } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { SearchAttributeNames } from '../domain/index.ts';

/** `LogstackEnvironment` (Keyword): the environment a workflow changes. */
export const environmentKey = defineSearchAttributeKey(SearchAttributeNames.environment, SearchAttributeType.KEYWORD);
/** `LogstackRevision` (Keyword): the full commit a workflow delivers. */
export const revisionKey = defineSearchAttributeKey(SearchAttributeNames.revision, SearchAttributeType.KEYWORD);

/** Upserts whichever of the two attributes is given. */
export function markWorkflow(values: { environment?: string; revision?: string }): void {
  const pairs = [];
  if (values.environment !== undefined) pairs.push({ key: environmentKey, value: values.environment });
  if (values.revision !== undefined) pairs.push({ key: revisionKey, value: values.revision });
  if (pairs.length > 0) upsertSearchAttributes(pairs);
}
