/**
 * The reasons the workflows and the controller write on conditions and Events (metav1.Condition reasons:
 * CamelCase identifiers), one constant each so a test, a dashboard or an alert names the same one. Permanent
 * step failures use the activity boundary's failure types (activities/failures.ts) as their reason.
 */
export const Reason = {
  /** The revision's replicas all serve. */
  RolloutComplete: 'RolloutComplete',
  RollingOut: 'RollingOut',
  /** The revision did not become available in time, or its pods cannot be scheduled. */
  RolloutFailed: 'RolloutFailed',
  /** The rendered plan is the one serving: nothing to roll out. */
  NothingToDo: 'NothingToDo',
  /** A new revision failed and the last good one serves. */
  PreviousRevisionServing: 'PreviousRevisionServing',
  SpecValid: 'SpecValid',
  /** The spec does not parse, or the operator's policy refuses it. */
  SpecInvalid: 'SpecInvalid',
  /** Ready is False (or stays on the last good revision) because of an InvalidSpec. */
  InvalidSpec: 'InvalidSpec',
  /** A reference names a resource that is missing, invalid, or of another model. */
  ReferenceNotResolved: 'ReferenceNotResolved',
  /** InferenceCache and SpeculativeDecoding: published to the services of their model, or none serve it. */
  Published: 'Published',
  NoServices: 'NoServices',
  /** PrefillDecodingDisaggregation: prefill and decode pods paired, or none ready yet. */
  Paired: 'Paired',
  WaitingForPods: 'WaitingForPods',
  /** InferenceGateway: every route has a ready service, or not. */
  RoutesReady: 'RoutesReady',
  RoutesNotReady: 'RoutesNotReady',
  /** A step waits out a transient fault (Progressing=True), and the Event when the wait ended. */
  WaitingForAPIServer: 'WaitingForAPIServer',
  WaitingToRetry: 'WaitingToRetry',
  WaitedForAPIServer: 'WaitedForAPIServer',
  WaitedToRetry: 'WaitedToRetry',
  /** A waiting condition turned False once the step went on. */
  Resumed: 'Resumed',
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];
