/**
 * The contracts room: pure types, schemas, failure types and names shared by every other room.
 * No I/O; runs unchanged on Node and Deno.
 */
export * from './failures.ts';
export * from './failure-log.ts';
export * from './ids.ts';
export * from './revision.ts';
export * from './environments.ts';
export * from './inputs.ts';
export * from './text.ts';
export * from './names.ts';
export * from './progress.ts';
export * from './lock.ts';
export * from './state-record.ts';
export * from './sshsig.ts';
export * from './approval.ts';
export * from './evidence.ts';
export * from './aws-plan.ts';
export * from './notifications.ts';
