/**
 * The Temporal Web UI as the audit trail, in a real browser: with `make demo` running (the five original
 * examples applied, a hot-spot load until the InferenceCache loop decides), a person finds one workflow per
 * resource, filters them by the CrKind and Phase search attributes, opens the InferenceCache workflow and
 * reads the decision with its inputs in the event history. Screenshots land in .state/artifacts/temporal-ui/.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import type { DevEnvironment } from '../../src/cli/dev/environment.ts';
import { Phase } from '../../src/temporal/search-attributes.ts';
import { workflowIdFor } from '../../src/temporal/start.ts';
import { binary, REPO_ROOT } from '../../src/tools/components.ts';
import { Browser, type Page } from '../helpers/browser.ts';
import { components, releaseDevEnvironment, useDevEnvironment } from '../helpers/components.ts';
import { startDemo, type RunningDemo } from '../helpers/demo.ts';
import { temporalFor } from '../helpers/engine.ts';
import { kubectlFor, type KubectlResult } from '../helpers/kubectl.ts';

const ARTEFACTS = join(REPO_ROOT, '.state', 'artifacts', 'temporal-ui');
const NS = 'default';
const RESOURCES = [
  ['InferenceService', 'llama3-chatbot-service'],
  ['InferenceCache', 'llama3-chatbot-cache'],
  ['InferenceGateway', 'llm-gateway'],
  ['SpeculativeDecoding', 'sd-llama3-chatbot'],
  ['PrefillDecodingDisaggregation', 'pdd-llama3-chatbot'],
] as const;
const IDS = RESOURCES.map(([kind, name]) => workflowIdFor(kind, NS, name));
const CACHE_ID = workflowIdFor('InferenceCache', NS, 'llama3-chatbot-cache');
const ROW = '[data-testid="workflows-summary-configurable-table-row"]:not(.empty)';
const EVENT_ROW = '[data-testid="event-summary-row"]';
const EXPANDED = '[data-testid="event-summary-row-expanded"]';
/** The activities whose scheduling is a cache decision; their input carries the numbers behind it. */
const DECISION = /\b(evictCache|transferCache)\b/;
/** In the page: the index of the first (newest) event row naming a decision, or null. */
const decisionIndex = `(() => { const i = [...document.querySelectorAll(${JSON.stringify(EVENT_ROW)})]
  .findIndex((r) => ${DECISION}.test(r.innerText)); return i >= 0 ? i : null; })()`;

let env: DevEnvironment;
let kubectl: (args: string[], input?: string) => KubectlResult;
let temporal: Client;
let demo: RunningDemo | undefined;
let browser: Browser | undefined;
let page: Page;
let lastAction: { action: string; target: string; reason: string };
const saved: string[] = [];

const shot = async (name: string, options?: Parameters<Page['screenshot']>[1]) => {
  const path = await page.screenshot(join(ARTEFACTS, `${name}.png`), options);
  saved.push(path);
  console.log(`# screenshot ${path}`);
};

/** Runs one step of the walk-through; a failure keeps a screenshot and says what the page showed. */
async function step<T>(name: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    let context = '';
    try {
      await shot(`failed-${name}`);
      const text = (await page.evaluate<string>('document.body.innerText')).slice(0, 1500);
      context = `\n  page ${await page.url()} (screenshot ${saved.at(-1)})\n  page text: ${text}`;
      if (page.errors.length) context += `\n  page errors: ${page.errors.slice(-5).join(' | ')}`;
    } catch (inner) {
      context = `\n  (no screenshot: ${(inner as Error).message})`;
    }
    throw new Error(`${name}: ${(err as Error).message}${context}`, { cause: err });
  }
}

/** The workflow list for a visibility query, as the UI renders it: one innerText per row. */
async function listFor(query: string, expected: readonly string[], name: string): Promise<string[]> {
  return step(name, async () => {
    await page.goto(`${env.temporalUi}/namespaces/${NS}/workflows?query=${encodeURIComponent(query)}`);
    const rows = await rowsShowing(expected, query);
    // The UI read the query into its filter bar: one chip per search attribute, as a person would set it.
    const shown = (await page.evaluate<string>('document.body.innerText')).replace(/\s+/g, ' ');
    for (const [, key, value] of query.matchAll(/(\w+)="([^"]*)"/g))
      if (key !== 'ExecutionStatus')
        assert.ok(shown.includes(`${key} = "${value}"`), `the filter bar shows ${key} = "${value}"`);
    await shot(name);
    return rows;
  });
}

/** Waits until the rendered rows are exactly one per expected workflow ID (or the empty state for none). */
async function rowsShowing(expected: readonly string[], query: string): Promise<string[]> {
  const started = Date.now();
  let rows: string[] = [];
  while (Date.now() - started < 30_000) {
    rows = await page.texts(ROW);
    const body = (await page.evaluate<string>('document.body.innerText')) ?? '';
    if (body.includes('There is an error with filtering Workflows'))
      throw new Error(`the UI rejected the query ${query}: ${body.slice(0, 600)}`);
    const oneEach = expected.every((id) => rows.filter((r) => r.includes(id)).length === 1);
    if (expected.length === 0 ? rows.length === 0 && body.includes('No Results') : oneEach) {
      if (rows.length === expected.length) return rows;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(
    `query ${query}: expected exactly the rows ${JSON.stringify(expected)}, the page shows ${JSON.stringify(rows)}`,
  );
}

const cacheStatus = () => {
  const r = kubectl(['get', 'inferencecache', 'llama3-chatbot-cache', '-n', NS, '-o', 'json']);
  return r.code === 0
    ? ((JSON.parse(r.stdout) as { status?: { lastAction?: typeof lastAction } }).status ?? {})
    : {};
};

describe('the Temporal Web UI shows the resources and the cache loop’s decisions', () => {
  before(async () => {
    rmSync(ARTEFACTS, { recursive: true, force: true });
    const chromium = binary(components('chromium-headless-shell'), 'chromium-headless-shell');
    env = await useDevEnvironment();
    kubectl = kubectlFor(env);
    temporal = await temporalFor(env);
    demo = startDemo();
    const started = Date.now();
    // The demo rolls the examples out, then loads one prefill replica until the loop acts (about 15 s).
    while (!cacheStatus().lastAction) {
      if (!demo.alive()) throw new Error(`make demo exited before a cache decision:\n${demo.output()}`);
      if (Date.now() - started > 240_000)
        throw new Error(`no cache decision within 240 s of make demo:\n${demo.output()}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    lastAction = cacheStatus().lastAction!;
    console.log(
      `# first decision ${((Date.now() - started) / 1000).toFixed(0)}s after make demo started: ${lastAction.action} ${lastAction.target}`,
    );
    browser = await Browser.launch(chromium);
    page = await browser.newPage();
  });
  after(async () => {
    await browser?.close();
    await demo?.stop();
    await temporal?.connection.close();
    await releaseDevEnvironment();
    if (saved.length) console.log(`# screenshots in ${ARTEFACTS}:\n#   ${saved.join('\n#   ')}`);
  });

  it('lists one running workflow per applied resource', async () => {
    const rows = await listFor(
      `CrNamespace="${NS}" AND ExecutionStatus="Running"`,
      IDS,
      '1-one-workflow-per-resource',
    );
    for (const [kind] of RESOURCES) {
      const row = rows.find((r) => r.includes(workflowIdFor(kind, NS, '')));
      assert.ok(row?.includes(`${kind}Workflow`), `the row of ${kind} names its workflow type: ${row}`);
      assert.match(row ?? '', /Running/, `the row of ${kind} shows it running`);
    }
  });

  it('filters by the CrKind search attribute and opens the InferenceCache workflow', async () => {
    const query = `CrKind="InferenceCache" AND CrNamespace="${NS}" AND ExecutionStatus="Running"`;
    await listFor(query, [CACHE_ID], '2-filter-crkind');
    await step('open-cache-workflow', async () => {
      await page.click(
        `the link ${CACHE_ID}`,
        `[...document.querySelectorAll(${JSON.stringify(`${ROW} a`)})].find((a) => a.innerText.trim() === ${JSON.stringify(CACHE_ID)})`,
      );
      await page.waitFor(
        'the workflow page heading',
        `document.querySelector('[data-testid="workflow-id-heading"]')?.innerText.includes(${JSON.stringify(CACHE_ID)})`,
      );
      const url = await page.url();
      assert.ok(
        decodeURIComponent(url).includes(`/namespaces/${NS}/workflows/${CACHE_ID}/`),
        `the page of ${CACHE_ID}: ${url}`,
      );
    });
  });

  it('finds the cache decision with its inputs in the event history', async () => {
    const decision = await step('find-decision', async () => {
      // The Compact view groups each activity's events under its name; 500 a page holds a whole run.
      await page.click('the Compact view', `document.querySelector('[data-testid="compact"]')`);
      const url = new URL(await page.url());
      url.searchParams.set('per-page', '500');
      await page.goto(url.toString());
      await page.waitFor('a decision in the history', `${decisionIndex} !== null`);
      // The loop keeps polling: Freeze stops live updates, so new events do not push the row away.
      await page.click('Freeze', `document.querySelector('[data-testid="pause"]')`);
      await page.waitFor(
        'live updates frozen',
        `document.querySelector('[data-testid="pause"]')?.innerText.includes('Unfreeze')`,
      );
      return page.waitFor<number>('an evictCache or transferCache event in the history', decisionIndex);
    });
    const details = await step('expand-decision', async () => {
      const row = `document.querySelectorAll(${JSON.stringify(EVENT_ROW)})[${decision}]`;
      await page.click('the decision row', row);
      const text = await page.waitFor<string>(
        'the decision’s input in the expanded row',
        `(() => { const t = document.querySelector(${JSON.stringify(EXPANDED)})?.innerText ?? '';
          return /"reason"/.test(t) ? t : null; })()`,
      );
      await page.evaluate(`${row}.scrollIntoView({ block: 'start', behavior: 'instant' })`);
      return text;
    });
    await shot('3-cache-decision');
    await shot('3-cache-decision-small', { scale: 0.75, height: 595 });
    // The input shows the replica acted on and the numbers that triggered the action, as the status says.
    lastAction = cacheStatus().lastAction ?? lastAction;
    const reason = lastAction.reason.split('; moved ')[0]!;
    assert.ok(details.includes(reason), `the expanded event shows the reason "${reason}":\n${details}`);
    assert.match(
      details,
      /KV-cache usage \d+\.\d% stayed at or above evictionThreshold|pool hit rate \d+\.\d%/,
    );
    // A transfer's target reads "from -> to"; the input holds both replicas.
    for (const replica of lastAction.target.split(' -> '))
      assert.ok(details.includes(`"${replica}"`), `the input names the replica ${replica}:\n${details}`);
  });

  it('filters by the Phase search attribute', async () => {
    const phases = new Map<string, string | undefined>();
    for (const id of IDS)
      phases.set(id, (await temporal.workflow.getHandle(id).describe()).typedSearchAttributes.get(Phase));
    const cachePhase = phases.get(CACHE_ID);
    assert.ok(cachePhase, `${CACHE_ID} carries a Phase search attribute`);
    const same = IDS.filter((id) => phases.get(id) === cachePhase);
    await listFor(
      `Phase="${cachePhase}" AND CrNamespace="${NS}" AND ExecutionStatus="Running"`,
      same,
      '4-filter-phase',
    );
    // A phase none of them is in lists nothing: the filter narrows, it does not just show everything.
    await listFor(
      `Phase="NoSuchPhase" AND CrNamespace="${NS}" AND ExecutionStatus="Running"`,
      [],
      '5-filter-phase-none',
    );
  });
});
