/**
 * A Temporal dev server of the test file's own (with the search attributes the workflows set) and workers that
 * run the real workflow code on activities the test gives: for tests about the workflows' own behaviour.
 */
import { fileURLToPath } from 'node:url';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type { Activities } from '../../src/activities/index.ts';
import type { CacheReplica, ReplicaSample } from '../../src/activities/vllm/cache-actions.ts';
import { binary } from '../../src/tools/components.ts';
import { SEARCH_ATTRIBUTES } from '../../src/temporal/search-attributes.ts';
import { components } from './components.ts';

Runtime.install({ logger: new DefaultLogger('WARN') });

export function localWorkflowEnvironment(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: binary(components('temporal'), 'temporal') },
      searchAttributes: [...SEARCH_ATTRIBUTES],
      extraArgs: ['--log-level', 'warn'],
    },
  });
}

export function workflowWorker(
  env: TestWorkflowEnvironment,
  taskQueue: string,
  activities: Partial<Activities>,
): Promise<Worker> {
  return Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowsPath: fileURLToPath(new URL('../../src/workflows/index.ts', import.meta.url)),
    activities,
  });
}

/** Fakes for an InferenceCache's reads and status writes: one service 'svc' of `replicas`, read as `samples` gives. */
export function cacheReadFakes(
  replicas: CacheReplica[],
  samples: () => ReplicaSample[],
): Partial<Activities> {
  return {
    findServicesForModel: async () => ['svc'],
    findCacheReplicas: async () => replicas,
    scrapeCacheMetrics: async () => samples(),
    readCacheTick: async () => ({ services: ['svc'], samples: samples() }),
    writeStatus: async () => true,
    releaseFinalizer: async () => undefined,
  };
}
