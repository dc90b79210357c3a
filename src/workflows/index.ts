export { InferenceServiceWorkflow } from './inference-service.ts';
export { InferenceCacheWorkflow } from './inference-cache.ts';
export {
  InferenceGatewayWorkflow,
  PrefillDecodingDisaggregationWorkflow,
  SpeculativeDecodingWorkflow,
} from './observed-kinds.ts';
