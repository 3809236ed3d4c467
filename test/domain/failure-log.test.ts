/** Failures as the worker logs them; run on Node and on Deno (`deno task test`). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ActivityFailure, ApplicationFailure, RetryState, TimeoutFailure } from '@temporalio/common';
import { DomainError, describeFailure, FailureType, isErrorLike } from '../../domain/index.ts';

describe('describeFailure', () => {
  it('keeps name, type, message, non-retryable flag and activity of each link, never details or heartbeat details', () => {
    const thrown = ApplicationFailure.nonRetryable('no such bucket owner', FailureType.AccessDenied, {
      secretArn: 'arn:secret',
    });
    const activity = new ActivityFailure(
      'Activity task failed',
      'ensureBucket',
      '7',
      RetryState.NON_RETRYABLE_FAILURE,
      'w@h',
      thrown,
    );
    const top = ApplicationFailure.create({
      type: FailureType.AccessDenied,
      message: 'lifted',
      nonRetryable: true,
      details: [{ token: 't' }],
      cause: activity,
    });
    const described = describeFailure(top);
    assert.deepEqual(described, {
      name: 'ApplicationFailure',
      message: 'lifted',
      type: FailureType.AccessDenied,
      nonRetryable: true,
      cause: {
        name: 'ActivityFailure',
        message: 'Activity task failed',
        activityType: 'ensureBucket',
        activityId: '7',
        retryState: 'NON_RETRYABLE_FAILURE',
        cause: {
          name: 'ApplicationFailure',
          message: 'no such bucket owner',
          type: FailureType.AccessDenied,
          nonRetryable: true,
        },
      },
    });
    const timeout = describeFailure(new TimeoutFailure('heartbeat timeout', { progress: 'secret' }, 'HEARTBEAT'));
    assert.deepEqual(timeout, { name: 'TimeoutFailure', message: 'heartbeat timeout', timeoutType: 'HEARTBEAT' });
  });

  it('describes domain errors and Node system errors by their type and code', () => {
    const domain = new DomainError({
      type: FailureType.UnknownEnvironment,
      message: 'no environment qa',
      details: { known: ['dev'] },
    });
    assert.deepEqual(describeFailure(domain), {
      name: 'DomainError',
      message: 'no environment qa',
      type: FailureType.UnknownEnvironment,
    });
    const system = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), {
      code: 'ECONNREFUSED',
      address: '127.0.0.1',
    });
    assert.deepEqual(describeFailure(system), {
      name: 'Error',
      message: 'connect ECONNREFUSED 127.0.0.1:1',
      code: 'ECONNREFUSED',
    });
  });

  it('names a structured-cloned failure after its original class, from its stack', () => {
    const cloned: unknown = structuredClone(ApplicationFailure.nonRetryable('bad input', FailureType.InvalidInput));
    assert.ok(isErrorLike(cloned));
    assert.equal(cloned.name, 'Error');
    assert.deepEqual(describeFailure(cloned), { name: 'ApplicationFailure', message: 'bad input' });
  });

  it('stops at a cause cycle and at eight links', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    assert.deepEqual(describeFailure(b), { name: 'Error', message: 'b', cause: { name: 'Error', message: 'a' } });
    let deep = new Error('0');
    for (let i = 1; i < 20; i++) deep = new Error(String(i), { cause: deep });
    let links = 0;
    for (let link: { cause?: unknown } | undefined = describeFailure(deep); link; link = link.cause as typeof link)
      links++;
    assert.equal(links, 8);
  });
});
