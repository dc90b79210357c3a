import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** What the controller's queue holds right now, read when /metrics is scraped. */
export interface QueueSource {
  pending: number;
  inFlight: number;
}

/** The controller's metrics, in a registry of its own (tests run several controllers in one process). */
export class ControllerMetrics {
  readonly registry = new Registry();
  queueSource: () => QueueSource = () => ({ pending: 0, inFlight: 0 });
  readonly events = new Counter({
    name: 'infctl_controller_events_total',
    help: 'Watch events and resync deliveries received, by kind and type (change, delete, resync).',
    labelNames: ['kind', 'type'] as const,
    registers: [this.registry],
  });
  readonly signals = new Counter({
    name: 'infctl_controller_signals_total',
    help: 'Signals sent to workflows, by kind, signal (spec, deleted, dependencyChanged) and outcome (ok, error).',
    labelNames: ['kind', 'signal', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly resyncs = new Counter({
    name: 'infctl_controller_resync_compared_total',
    help: 'Objects a periodic resync compared with their last delivery, by kind and verdict (unchanged: nothing sent; changed; missing: its workflow was not running).',
    labelNames: ['kind', 'verdict'] as const,
    registers: [this.registry],
  });
  readonly invalidSpecs = new Counter({
    name: 'infctl_controller_invalid_specs_total',
    help: 'Generations refused as InvalidSpec before any work started, by kind.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly giveUps = new Counter({
    name: 'infctl_controller_reconcile_give_ups_total',
    help: 'Changes given up after five failed attempts (retried at the next change or resync), by kind.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly informerRestarts = new Counter({
    name: 'infctl_controller_informer_restarts_total',
    help: 'Watches restarted after an error, by kind.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly signalLatency = new Histogram({
    name: 'infctl_controller_spec_to_signal_seconds',
    help: 'Time from a spec change arriving at the controller to its signal accepted by Temporal, by kind.',
    labelNames: ['kind'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly lastResync = new Gauge({
    name: 'infctl_controller_last_resync_timestamp_seconds',
    help: 'Unix time of the last periodic resync (every object compared, the changed ones re-delivered).',
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'infctl_controller_queue_depth',
    help: 'Resources waiting in the per-key queue (state "pending") or being processed ("in_flight").',
    labelNames: ['state'] as const,
    registers: [this.registry],
    collect: () => {
      const q = this.queueSource();
      this.queueDepth.set({ state: 'pending' }, q.pending);
      this.queueDepth.set({ state: 'in_flight' }, q.inFlight);
    },
  });
}
