import type { ServingGroup, ServingPlan } from '../api/index.ts';

/** What differs between where a replica runs; everything else about its command line comes from the plan. */
export interface EngineLaunch {
  /** The executable of each engine: a path inside the image, or on this machine. */
  executables: Record<ServingPlan['engine'], string>;
  /**
   * Where a local process listens instead of a pod's `plan.port` on every interface. vLLM gets `--host` and
   * `--port` after the rendered ones (the last one wins); the simulator gets this port.
   */
  listen?: { host: string; port: number };
}

/** The flag's value in the rendered arguments; the last occurrence wins, as in vLLM's argument parser. */
function flagValue(args: readonly string[], name: string): string | undefined {
  const i = args.lastIndexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

// The latencies of a small model on one GPU: requests overlap, so KV usage, queues and the cache loop's
// decisions have something to show (the simulator's default answers instantly).
const SIMULATOR_TTFT = '20ms';
const SIMULATOR_ITL = '10ms';

/**
 * The engine command line of one replica of a group: `vllm serve <model> <rendered args>`, or
 * llm-d-inference-sim with only flags it accepts (it exits 0 on unknown ones, so a wrong flag fails nowhere).
 * Sleep mode is on because the cache loop evicts a simulator replica with a sleep/wake cycle.
 */
export function engineCommand(plan: ServingPlan, group: ServingGroup, launch: EngineLaunch): string[] {
  const executable = launch.executables[plan.engine];
  if (plan.engine === 'vllm') {
    const listen = launch.listen ? ['--host', launch.listen.host, '--port', String(launch.listen.port)] : [];
    return [executable, 'serve', plan.model, ...group.args, ...listen];
  }
  return [
    executable,
    '--port',
    String(launch.listen?.port ?? plan.port),
    '--model',
    plan.modelName,
    '--force-dummy-tokenizer',
    '--enable-kvcache',
    // The block size the rendered arguments carry (from the InferenceCache) sizes the simulator's KV cache.
    '--block-size',
    flagValue(group.args, '--block-size') ?? '16',
    '--enable-sleep-mode',
    '--time-to-first-token',
    SIMULATOR_TTFT,
    '--inter-token-latency',
    SIMULATOR_ITL,
  ];
}
