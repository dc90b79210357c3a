export { InferenceServiceWorkflow } from './inference-service.ts';
export {
  InferenceCacheWorkflow,
  InferenceGatewayWorkflow,
  PrefillDecodingDisaggregationWorkflow,
  SpeculativeDecodingWorkflow,
} from './observed-kinds.ts';
