import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { classify, FailureType } from '../../src/activities/failures.ts';
import { KubeApiError, KubeUnavailableError } from '../../src/kube/client.ts';

const classified = (err: unknown) => {
  const out = classify(err);
  assert.ok(out instanceof ApplicationFailure, `classified as an ApplicationFailure: ${String(out)}`);
  return { type: out.type, nonRetryable: out.nonRetryable, message: out.message };
};

describe('the activity boundary classifies errors', () => {
  it('waits out an unreachable API server, server errors, throttling and conflicts', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' });
    const unreachable = classified(
      new KubeUnavailableError('GET /x: the API server is unreachable', refused),
    );
    assert.deepEqual(unreachable, {
      type: FailureType.KubernetesUnavailable,
      nonRetryable: false,
      message: 'GET /x: the API server is unreachable',
    });
    for (const status of [500, 503, 504, 429, 409, 410])
      assert.equal(
        classified(new KubeApiError(status, 'X', `PATCH /y: ${status}`)).nonRetryable,
        false,
        `${status}`,
      );
  });

  it('makes rejected, forbidden and missing objects permanent, quoting the API server', () => {
    const rejected = classified(
      new KubeApiError(
        422,
        'Invalid',
        'PATCH /d: 422 Invalid: spec.template.spec.containers[1].image: Required value',
      ),
    );
    assert.equal(rejected.type, FailureType.KubernetesRejected);
    assert.equal(rejected.nonRetryable, true);
    assert.match(rejected.message, /containers\[1\]\.image: Required value/);
    assert.equal(classified(new KubeApiError(400, 'BadRequest', 'x')).type, FailureType.KubernetesRejected);
    assert.equal(classified(new KubeApiError(403, 'Forbidden', 'x')).type, FailureType.KubernetesForbidden);
    assert.equal(
      classified(new KubeApiError(401, 'Unauthorized', 'x')).type,
      FailureType.KubernetesForbidden,
    );
    assert.equal(classified(new KubeApiError(404, 'NotFound', 'x')).type, FailureType.KubernetesNotFound);
  });

  it('reports a missing engine binary as EngineMissing, naming the binary and what to do', () => {
    const enoent = Object.assign(new Error('spawn vllm ENOENT'), {
      code: 'ENOENT',
      syscall: 'spawn vllm',
      path: 'vllm',
    });
    const missing = classified(enoent);
    assert.equal(missing.type, FailureType.EngineMissing);
    assert.equal(missing.nonRetryable, true);
    assert.match(missing.message, /"vllm" is not installed on the worker.*INFCTL_VLLM.*simulator/);
  });

  it('leaves other errors retryable as they are', () => {
    const other = new Error('socket hang up');
    assert.equal(classify(other), other);
  });
});
