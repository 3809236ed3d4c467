/**
 * Workflow interceptors bundled with the workflows (not a Workflow Type). The SDK logs "Workflow failed"
 * with the failure as an `Error`, which its log sink structured-clones out of the sandbox: only message,
 * stack and cause survive, so the failure type and the non-retryable flag would be lost. This interceptor
 * describes the failure while it is still whole and adds the description to that one log line.
 * It only adds log attributes: no command, so histories replay the same with or without it.
 */
import { isCancellation, type WorkflowInterceptorsFactory } from '@temporalio/workflow';
import { describeFailure, isErrorLike, WORKFLOW_FAILURE_LOG_ATTRIBUTE, type LoggedFailure } from '../domain/index.ts';

/** Per execution: the failure of `execute` is described on its way out and attached to the next log line only. */
export const interceptors: WorkflowInterceptorsFactory = () => {
  let pending: LoggedFailure | undefined;
  return {
    inbound: [
      {
        async execute(input, next) {
          try {
            return await next(input);
          } catch (error) {
            const continued = (error as { name?: unknown } | null)?.name === 'ContinueAsNew';
            if (isErrorLike(error) && !continued && !isCancellation(error)) pending = describeFailure(error);
            throw error;
          }
        },
      },
    ],
    outbound: [
      {
        getLogAttributes(attributes, next) {
          if (pending === undefined) return next(attributes);
          const failure = pending;
          pending = undefined;
          return next({ ...attributes, [WORKFLOW_FAILURE_LOG_ATTRIBUTE]: failure });
        },
      },
    ],
  };
};
