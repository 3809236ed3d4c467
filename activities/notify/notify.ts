/**
 * `notify`: delivers one notification event to one receiver. The receiver's URL is read at delivery time —
 * from the catalog (receivers without a token), a `LOGSTACK_NOTIFY_…` worker variable, or a Secrets Manager
 * secret through the worker's AWS clients — and never leaves this function: not in the result, not in an
 * error message, not in a log line. The body is rendered from the event by `domain/notifications.ts`.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type { LogstackActivities, NotifyOutcome } from '../../domain/activity-contract.ts';
import {
  FailureType,
  NOTIFICATION_FAILED,
  NOTIFY_ENV_PREFIX,
  receiverUrlProblem,
  renderNotification,
  secretRegion,
  targetSource,
  type Environment,
  type NotificationTarget,
} from '../../domain/index.ts';
import type { AwsClients } from '../aws/clients.ts';
import { currentCancellationSignal, sendOptions } from '../aws/common.ts';
import { awsCall, awsErrorCode, nonRetryable } from '../errors.ts';

/** How long one POST may take before the attempt fails (retryable). */
export const NOTIFY_TIMEOUT_MS = 10_000;

/** What the notify activity needs. */
export interface NotifyDeps {
  /** The worker's AWS clients (Secrets Manager). */
  readonly aws: AwsClients;
  /** Where `urlFrom.env` is read; default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The Web UI base URL for links (the worker's `LOGSTACK_UI_URL`). */
  readonly uiBase?: string | undefined;
  /** Per-attempt timeout; default {@link NOTIFY_TIMEOUT_MS}. */
  readonly timeoutMs?: number;
}

/** A failure the retry policy may retry (timeouts, network errors, 429, 5xx). */
function retryable(message: string): ApplicationFailure {
  return ApplicationFailure.retryable(message, NOTIFICATION_FAILED);
}

/** The secret's value as a URL: the string itself, or the `url` of a JSON object. */
function urlOfSecret(value: string): string | undefined {
  const text = value.trim();
  if (text.startsWith('{')) {
    try {
      const parsed = JSON.parse(text) as { url?: unknown };
      return typeof parsed.url === 'string' ? parsed.url.trim() : undefined;
    } catch {
      return undefined;
    }
  }
  return text;
}

/**
 * The receiver URL of `target`, read now. Each failure names where the URL was to come from and what is wrong,
 * never the value.
 * @throws non-retryable `InvalidInput` (unset variable, empty or unusable value, no such secret), `AccessDenied`.
 */
export async function resolveReceiverUrl(
  target: NotificationTarget,
  environment: Pick<Environment, 'aws'>,
  deps: Pick<NotifyDeps, 'aws' | 'env'>,
  signal?: AbortSignal,
): Promise<string> {
  const source = targetSource(target);
  let url: string | undefined;
  if (target.url !== undefined) {
    url = target.url;
  } else if (target.urlFrom !== undefined && 'env' in target.urlFrom) {
    // The schema says so already; a target that reached here around it still sends no other variable anywhere.
    if (!target.urlFrom.env.startsWith(NOTIFY_ENV_PREFIX)) {
      throw nonRetryable(FailureType.InvalidInput, `${source} is not a notification variable: a receiver URL comes only from a variable named ${NOTIFY_ENV_PREFIX}…`);
    }
    url = (deps.env ?? process.env)[target.urlFrom.env]?.trim();
    if (url === undefined || url === '') throw nonRetryable(FailureType.InvalidInput, `${source} is not set on the worker; set it to the receiver's URL and the next notification uses it`);
  } else if (target.urlFrom !== undefined) {
    const secretId = target.urlFrom.secretsManager;
    const region = secretRegion(secretId) ?? environment.aws.region;
    let value: string | undefined;
    try {
      const answer = await awsCall(`secretsmanager:GetSecretValue on ${secretId}`, () =>
        deps.aws.secretsManager(region).send(new GetSecretValueCommand({ SecretId: secretId }), sendOptions(signal)),
      );
      value = answer.SecretString;
    } catch (error) {
      if (awsErrorCode(error) === 'ResourceNotFoundException') {
        throw nonRetryable(FailureType.InvalidInput, `${source} does not exist (region ${region}); create it with the receiver's URL as its value`);
      }
      throw error;
    }
    url = value === undefined ? undefined : urlOfSecret(value);
    if (url === undefined || url === '') throw nonRetryable(FailureType.InvalidInput, `${source} holds no URL: its value must be the receiver's URL, or JSON {"url": "…"}`);
  }
  if (url === undefined) throw nonRetryable(FailureType.InvalidInput, 'the notification target names no URL');
  const problem = receiverUrlProblem(url, false);
  if (problem !== undefined) throw nonRetryable(FailureType.InvalidInput, `the receiver URL from ${source} cannot be used: ${problem}`);
  return url;
}

/** Why a fetch failed, without the URL: the timeout, the cancellation, or the network error's code. */
function networkReason(error: unknown, timedOut: boolean): string {
  if (timedOut) return 'no answer within the timeout';
  const cause = (error as { cause?: { code?: unknown } }).cause;
  if (cause !== undefined && typeof cause.code === 'string') return `network error ${cause.code}`;
  return `network error (${(error as Error).name})`;
}

/** Builds `notify`. */
export function createNotifyActivities(deps: NotifyDeps): Pick<LogstackActivities, 'notify'> {
  const timeoutMs = deps.timeoutMs ?? NOTIFY_TIMEOUT_MS;
  return {
    notify: async ({ environment, target, event }): Promise<NotifyOutcome> => {
      const ctx = Context.current();
      const cancelled = currentCancellationSignal();
      const url = await resolveReceiverUrl(target, environment, deps, cancelled);
      const body = JSON.stringify(renderNotification(event, target.format, { uiBase: deps.uiBase }));
      ctx.heartbeat();
      const timeout = AbortSignal.timeout(timeoutMs);
      const signal = cancelled ? AbortSignal.any([cancelled, timeout]) : timeout;
      const seconds = Math.round(timeoutMs / 1000);
      let response: Response;
      try {
        response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json; charset=utf-8', 'user-agent': 'logstack-notify/1' },
          body,
          // A redirect could carry the body elsewhere: receivers answer, they do not redirect.
          redirect: 'manual',
          signal,
        });
        // Read the answer (bounded by the same signal) so the connection is released; its text is never shown.
        await response.arrayBuffer();
      } catch (error) {
        if (cancelled?.aborted === true) throw cancelled.reason ?? error;
        throw retryable(`${target.format} receiver (URL from ${targetSource(target)}): ${networkReason(error, timeout.aborted)}${timeout.aborted ? ` (${seconds} s)` : ''}`);
      }
      const status = response.status;
      const what = `${target.format} receiver (URL from ${targetSource(target)}) answered HTTP ${status}`;
      if (status >= 200 && status < 300) return { status, attempt: ctx.info.attempt };
      if (status === 429 || status >= 500) throw retryable(what);
      throw ApplicationFailure.nonRetryable(`${what}; it refuses this notification, so it is not sent again`, NOTIFICATION_FAILED, { status });
    },
  };
}
