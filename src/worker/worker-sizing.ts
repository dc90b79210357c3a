/**
 * How many entity workflows one worker keeps in memory and runs at once, from the environment (the chart's
 * worker.sizing values set these). Unset settings keep the SDK's defaults; bench/RESULTS.md ("Scale") has the
 * measurements behind the chart's choices.
 */
import type { WorkerOptions } from '@temporalio/worker';
import { z } from 'zod';
import { parseDuration } from '../api/common.ts';

const count = (min: number) =>
  z
    .string()
    .regex(/^[0-9]+$/, { error: 'must be a whole number' })
    .transform(Number)
    .refine((n) => n >= min, { error: `must be ${min} or more` })
    .optional();

function isDuration(text: string): boolean {
  try {
    return parseDuration(text) > 0;
  } catch {
    return false;
  }
}

const WorkerSizingEnvSchema = z.object({
  /** Workflows kept in the sticky cache; past it the least recently used is evicted and replayed on its next task. */
  INFCTL_WORKER_MAX_CACHED_WORKFLOWS: count(0),
  INFCTL_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: count(2),
  INFCTL_WORKER_MAX_CONCURRENT_ACTIVITIES: count(1),
  /** How long a task waits on this worker's sticky queue before any worker may take it (a duration, 10s). */
  INFCTL_WORKER_STICKY_QUEUE_TIMEOUT: z
    .string()
    .refine(isDuration, { error: 'must be a duration such as "500ms" or "10s"' })
    .optional(),
  /**
   * Run every workflow in one shared V8 context (the SDK's default, true). false gives each workflow its own
   * context: at N=1,000 that took 369 s to Ready and 7.2 GiB, against 153 s and 862 MiB (bench/RESULTS.md).
   */
  INFCTL_WORKER_REUSE_V8_CONTEXT: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .transform((v) => v === 'true')
    .optional(),
});

export type WorkerSizing = Pick<
  WorkerOptions,
  | 'maxCachedWorkflows'
  | 'maxConcurrentWorkflowTaskExecutions'
  | 'maxConcurrentActivityTaskExecutions'
  | 'stickyQueueScheduleToStartTimeout'
  | 'reuseV8Context'
>;

/** The worker options the environment sets; a bad value is an error naming the variable. */
export function workerSizingFromEnv(env: NodeJS.ProcessEnv = process.env): WorkerSizing {
  const parsed = WorkerSizingEnvSchema.safeParse(
    Object.fromEntries(Object.entries(env).filter(([k, v]) => k.startsWith('INFCTL_WORKER_') && v !== '')),
  );
  if (!parsed.success)
    throw new Error(
      `invalid worker sizing: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  const e = parsed.data;
  const sizing: WorkerSizing = {
    ...(e.INFCTL_WORKER_MAX_CACHED_WORKFLOWS !== undefined
      ? { maxCachedWorkflows: e.INFCTL_WORKER_MAX_CACHED_WORKFLOWS }
      : {}),
    ...(e.INFCTL_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS !== undefined
      ? { maxConcurrentWorkflowTaskExecutions: e.INFCTL_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS }
      : {}),
    ...(e.INFCTL_WORKER_MAX_CONCURRENT_ACTIVITIES !== undefined
      ? { maxConcurrentActivityTaskExecutions: e.INFCTL_WORKER_MAX_CONCURRENT_ACTIVITIES }
      : {}),
    ...(e.INFCTL_WORKER_STICKY_QUEUE_TIMEOUT !== undefined
      ? { stickyQueueScheduleToStartTimeout: parseDuration(e.INFCTL_WORKER_STICKY_QUEUE_TIMEOUT) }
      : {}),
    ...(e.INFCTL_WORKER_REUSE_V8_CONTEXT !== undefined
      ? { reuseV8Context: e.INFCTL_WORKER_REUSE_V8_CONTEXT }
      : {}),
  };
  return sizing;
}
