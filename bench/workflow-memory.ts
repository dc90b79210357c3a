/**
 * What a cached workflow costs in memory before it has done anything: the workflow bundle's modules, which
 * the SDK's reusable V8 context evaluates again for every workflow it creates (one webpack module cache per
 * workflow). Bundles src/workflows (or --workflows), creates N workflows with the SDK's own
 * ReusableVMWorkflowCreator (what a Worker with reuseV8Context does on a workflow's first task) and prints heap
 * and RSS per workflow after a full GC. No Temporal server, no Kubernetes: light.
 *   node --expose-gc --import tsx bench/workflow-memory.ts [--n 100] [--workflows path/to/index.ts] [--no-reuse]
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';
import { parseWorkflowCode } from '@temporalio/worker/lib/worker.js';
import { ReusableVMWorkflowCreator } from '@temporalio/worker/lib/workflow/reusable-vm.js';
import { VMWorkflowCreator } from '@temporalio/worker/lib/workflow/vm.js';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '100' },
    workflows: {
      type: 'string',
      default: fileURLToPath(new URL('../src/workflows/index.ts', import.meta.url)),
    },
    type: { type: 'string', default: 'InferenceServiceWorkflow' },
    // reuseV8Context: false, a V8 context per workflow (the SDK's VMWorkflowCreator).
    'no-reuse': { type: 'boolean', default: false },
  },
});
const N = Number(values.n);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

const quiet = { trace() {}, debug() {}, info() {}, log() {}, warn() {}, error: console.error };
const { code } = await bundleWorkflowCode({ workflowsPath: values.workflows, logger: quiet as never });
const bundle = parseWorkflowCode(code) as never;
const creator = values['no-reuse']
  ? await VMWorkflowCreator.create(bundle, 5000, new Set<string>(), undefined as never)
  : await ReusableVMWorkflowCreator.create(bundle, 5000, new Set<string>(), undefined as never);
const settled = () => {
  gc();
  gc();
  return process.memoryUsage();
};
const before = settled();
const keep: unknown[] = [];
for (let i = 0; i < N; i++) {
  const now = new Date();
  const info = {
    workflowType: values.type,
    workflowId: `bench-${i}`,
    runId: `run-${i}`,
    firstExecutionRunId: `run-${i}`,
    taskQueue: 'bench',
    namespace: 'default',
    attempt: 1,
    historyLength: 3,
    historySize: 100,
    continueAsNewSuggested: false,
    startTime: now,
    runStartTime: now,
    memo: {},
    searchAttributes: {},
    typedSearchAttributes: [],
    priority: {},
    unsafe: { isReplaying: false, now: () => Date.now() },
  };
  keep.push(
    await creator.createWorkflow({
      info,
      randomnessSeed: [1, 2, 3, 4],
      now: now.getTime(),
      showStackTraceSources: false,
    } as never),
  );
}
const after = settled();
console.log(
  `${N} workflows of ${values.workflows}, reuseV8Context ${!values['no-reuse']} (bundle ${(code.length / 2 ** 20).toFixed(1)} MiB): ` +
    `${((after.heapUsed - before.heapUsed) / N / 1024).toFixed(0)} KiB heap and ` +
    `${((after.rss - before.rss) / N / 1024).toFixed(0)} KiB RSS per workflow`,
);
process.exit(0);
