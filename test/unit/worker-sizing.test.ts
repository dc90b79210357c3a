import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { workerSizingFromEnv } from '../../src/worker/worker-sizing.ts';

describe('worker sizing from the environment', () => {
  it('sets nothing when nothing is set, so the SDK defaults hold', () => {
    assert.deepEqual(workerSizingFromEnv({ INFCTL_WORKER_METRICS_ADDRESS: '127.0.0.1:9464' }), {});
  });

  it('reads the cache, both concurrencies and the sticky queue timeout', () => {
    assert.deepEqual(
      workerSizingFromEnv({
        INFCTL_WORKER_MAX_CACHED_WORKFLOWS: '500',
        INFCTL_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: '20',
        INFCTL_WORKER_MAX_CONCURRENT_ACTIVITIES: '200',
        INFCTL_WORKER_STICKY_QUEUE_TIMEOUT: '5s',
        INFCTL_WORKER_REUSE_V8_CONTEXT: 'false',
      }),
      {
        maxCachedWorkflows: 500,
        maxConcurrentWorkflowTaskExecutions: 20,
        maxConcurrentActivityTaskExecutions: 200,
        stickyQueueScheduleToStartTimeout: 5000,
        reuseV8Context: false,
      },
    );
  });

  it('takes an empty value for unset (what a chart renders for an empty value)', () => {
    assert.deepEqual(workerSizingFromEnv({ INFCTL_WORKER_MAX_CACHED_WORKFLOWS: '' }), {});
  });

  it('refuses a value that is not a count or a duration, naming the variable', () => {
    assert.throws(
      () => workerSizingFromEnv({ INFCTL_WORKER_MAX_CACHED_WORKFLOWS: 'many' }),
      /INFCTL_WORKER_MAX_CACHED_WORKFLOWS: must be a whole number/,
    );
    assert.throws(
      () => workerSizingFromEnv({ INFCTL_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: '1' }),
      /INFCTL_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: must be 2 or more/,
    );
    assert.throws(
      () => workerSizingFromEnv({ INFCTL_WORKER_STICKY_QUEUE_TIMEOUT: 'soon' }),
      /INFCTL_WORKER_STICKY_QUEUE_TIMEOUT: must be a duration/,
    );
    assert.throws(
      () => workerSizingFromEnv({ INFCTL_WORKER_REUSE_V8_CONTEXT: 'yes' }),
      /INFCTL_WORKER_REUSE_V8_CONTEXT: must be true or false/,
    );
  });
});
