import { q, row, stat, timeseries, type DashboardSpec } from './grafana.ts';
import { increase, percentiles, quantile, rate } from './queries.ts';

/** Temporal's workflow failures and workflow-task failures (a bug in workflow code shows as the latter). */
const WORKFLOW_FAILURES =
  '{__name__=~"temporal_workflow_failed_total|temporal_workflow_task_execution_failed_total"}';

/** The controller, the rollouts and the Temporal worker: are changes reaching the workflows, and how fast? */
export const CONTROL_PLANE: DashboardSpec = {
  file: 'control-plane',
  title: 'Inference: control plane',
  description:
    'The controller’s watches and signals, InferenceService rollouts, and the Temporal worker’s workflow tasks, activities and failures.',
  variables: [],
  annotations: [],
  items: [
    stat({
      title: 'Since the last resync',
      description:
        'Seconds since the controller last listed every kind (alert InferenceControllerNotSyncing over 300).',
      queries: [
        q('time() - max by (instance) (infctl_controller_last_resync_timestamp_seconds)', '{{instance}}'),
      ],
      unit: 's',
      width: 8,
    }),
    stat({
      title: 'Controller queue',
      description: 'Resources waiting for the controller, and being processed.',
      queries: [q('sum by (state) (infctl_controller_queue_depth)', '{{state}}')],
      unit: 'short',
      width: 8,
    }),
    stat({
      title: 'Workflow failures (1h)',
      description: 'Failed workflows and workflow tasks in the last hour (alert InferenceWorkflowFailures).',
      queries: [q(`sum(increase(${WORKFLOW_FAILURES}[1h]))`, 'failures')],
      unit: 'short',
      width: 8,
    }),
    row('Controller'),
    timeseries({
      title: 'Watch events by kind',
      description: 'Changes, deletions and resync deliveries the controller received.',
      queries: [q(`sum by (kind, type) (${rate('infctl_controller_events_total')})`, '{{kind}} {{type}}')],
      unit: 'ops',
    }),
    timeseries({
      title: 'Reconcile signals by kind',
      description: 'Signals to the resources’ workflows (spec, deleted, dependencyChanged), by outcome.',
      queries: [
        q(
          `sum by (kind, signal, outcome) (${rate('infctl_controller_signals_total')})`,
          '{{kind}} {{signal}} {{outcome}}',
        ),
      ],
      unit: 'ops',
    }),
    timeseries({
      title: 'Spec change to signal',
      description: 'From a spec change arriving at the controller to its signal accepted by Temporal.',
      queries: percentiles('infctl_controller_spec_to_signal_seconds', 'kind', '', '{{kind}}').slice(0, 2),
      unit: 's',
    }),
    timeseries({
      title: 'Refusals, give-ups and watch restarts',
      description:
        'Generations refused as InvalidSpec, changes given up after five attempts, and watches restarted after an error.',
      queries: [
        q(`sum by (kind) (${increase('infctl_controller_invalid_specs_total')})`, 'InvalidSpec {{kind}}'),
        q(`sum by (kind) (${increase('infctl_controller_reconcile_give_ups_total')})`, 'give-up {{kind}}'),
        q(
          `sum by (kind) (${increase('infctl_controller_informer_restarts_total')})`,
          'watch restart {{kind}}',
        ),
      ],
      unit: 'short',
      bars: true,
    }),
    row('Rollouts'),
    // A rollout is a rare event whose histogram series appear with their first observation, so a rate over a
    // short window shows nothing; these read the histogram's running sum and count instead.
    timeseries({
      title: 'Rollout duration',
      description:
        'Mean time from an InferenceService revision applied to its replicas ready (or the rollout failed), over the rollouts this worker ran since it started.',
      queries: [
        q(
          'sum by (resource, outcome) (inference_service_rollout_duration_seconds_sum)\n' +
            '/ sum by (resource, outcome) (inference_service_rollout_duration_seconds_count)',
          '{{resource}} {{outcome}}',
        ),
      ],
      unit: 's',
    }),
    timeseries({
      title: 'Rollouts by outcome',
      description: 'Rollouts this worker ran since it started, by resource and outcome (complete, failed).',
      queries: [
        q(
          'sum by (resource, outcome) (inference_service_rollout_duration_seconds_count)',
          '{{resource}} {{outcome}}',
        ),
      ],
      unit: 'short',
    }),
    row('Temporal worker'),
    timeseries({
      title: 'Workflow task latency',
      description: 'p90 by workflow type: executing a workflow task, and waiting for a worker to pick it up.',
      queries: [
        q(
          quantile(0.9, 'temporal_workflow_task_execution_latency_seconds', 'workflow_type', ''),
          'execution {{workflow_type}}',
        ),
        q(
          quantile(0.9, 'temporal_workflow_task_schedule_to_start_latency_seconds', '', ''),
          'schedule to start',
        ),
      ],
      unit: 's',
    }),
    timeseries({
      title: 'Activity latency by activity',
      description: 'p90 of each activity’s execution (Kubernetes calls, replica scrapes, cache actions).',
      queries: [
        q(
          quantile(0.9, 'temporal_activity_execution_latency_seconds', 'activity_type', ''),
          '{{activity_type}}',
        ),
      ],
      unit: 's',
    }),
    timeseries({
      title: 'Activity failures by activity',
      description:
        'Failed activity attempts by activity type (each retry counts; transient failures are retried).',
      queries: [
        q(
          `sum by (activity_type) (${rate('temporal_activity_execution_failed_total')})`,
          '{{activity_type}}',
        ),
      ],
      unit: 'ops',
    }),
    timeseries({
      title: 'Workflow failures by type',
      description:
        'Workflows that failed and workflow tasks that failed (a bug in workflow code: the task retries until fixed).',
      queries: [q(`sum by (workflow_type) (${rate(WORKFLOW_FAILURES)})`, '{{workflow_type}}')],
      unit: 'ops',
    }),
  ],
};
