/**
 * How a resource's workflow is started: its ID, task queue, input and search attributes. The controller
 * starts every workflow with these; the tests start theirs the same way.
 */
import type { SearchAttributePair } from '@temporalio/common';
import { keyOf } from '../api/references.ts';
import { CrKind, CrName, CrNamespace, ModelName } from './search-attributes.ts';

/** Workflow ID of a resource: `<Kind>/<namespace>/<name>`; the ID is the lock that makes duplicate controllers harmless. */
export const workflowIdFor = (kind: string, namespace: string, name: string) =>
  keyOf({ kind, namespace, name });

export interface ResourceWorkflow {
  kind: string;
  namespace: string;
  name: string;
  taskQueue: string;
  /** The model the resource serves (spec.modelName or spec.targetModel), for the ModelName attribute. */
  model?: string;
  /** Per-resource poll interval passed to the workflow (tests shorten it). */
  pollIntervalMs?: number;
}

/** What every resource workflow is started with (continue-as-new adds its state). */
export interface ResourceWorkflowArgs {
  namespace: string;
  name: string;
  pollIntervalMs?: number;
}

/** The start options of a resource's workflow, for `signalWithStart` (add the signal) or `start`. */
export function resourceWorkflowStart(r: ResourceWorkflow) {
  const typedSearchAttributes: SearchAttributePair[] = [
    { key: CrKind, value: r.kind },
    { key: CrNamespace, value: r.namespace },
    { key: CrName, value: r.name },
    ...(r.model ? [{ key: ModelName, value: r.model }] : []),
  ];
  return {
    taskQueue: r.taskQueue,
    workflowId: workflowIdFor(r.kind, r.namespace, r.name),
    args: [
      {
        namespace: r.namespace,
        name: r.name,
        ...(r.pollIntervalMs ? { pollIntervalMs: r.pollIntervalMs } : {}),
      },
    ] as [ResourceWorkflowArgs],
    typedSearchAttributes,
  };
}
