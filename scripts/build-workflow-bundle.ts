// Prebuilds the Temporal workflow bundle from the compiled workflows (dist/workflows) into
// dist/workflow-bundle.js, so a compiled worker starts without running webpack (src/worker/worker.ts).
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';

const workflowsPath = fileURLToPath(new URL('../dist/workflows/index.js', import.meta.url));
const out = fileURLToPath(new URL('../dist/workflow-bundle.js', import.meta.url));
const started = Date.now();
// Webpack's report goes to info; warnings and errors are kept.
const quiet = { trace() {}, debug() {}, info() {}, log() {}, warn: console.warn, error: console.error };
const { code } = await bundleWorkflowCode({ workflowsPath, logger: quiet as never });
await writeFile(out, code);
process.stdout.write(
  `wrote ${out} (${(code.length / 1024).toFixed(0)} KiB) in ${((Date.now() - started) / 1000).toFixed(1)}s\n`,
);
