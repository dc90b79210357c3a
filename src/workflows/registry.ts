/** Which workflow type serves which kind; used by the controller and the CLI (not part of the bundle). */
export const WORKFLOW_TYPES: Record<string, string> = {
  InferenceService: 'InferenceServiceWorkflow',
  InferenceCache: 'InferenceCacheWorkflow',
  SpeculativeDecoding: 'SpeculativeDecodingWorkflow',
  PrefillDecodingDisaggregation: 'PrefillDecodingDisaggregationWorkflow',
  InferenceGateway: 'InferenceGatewayWorkflow',
};
