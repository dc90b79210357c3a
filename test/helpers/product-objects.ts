/**
 * Objects the product's own code creates, made here without running its workflows: a gateway's Deployment and
 * Service as the InferenceGateway workflow deploys them, an engine Deployment as the runtime renders it.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { renderPlan } from '../../src/activities/vllm/render.ts';
import { InferenceGatewaySpecSchema, InferenceServiceSpecSchema } from '../../src/api/index.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { KubernetesGatewayRuntime } from '../../src/runtime/kubernetes/gateway-deployment.ts';
import { deploymentFor } from '../../src/runtime/kubernetes/manifests.ts';
import { ok } from './helm.ts';
import type { KubectlResult } from './kubectl.ts';

type Kubectl = (args: string[], input?: string) => KubectlResult;

/** An InferenceGateway `name` and what KubernetesGatewayRuntime deploys for it (Service `<name>-gateway`). */
export async function deployGateway(
  kubeconfig: string,
  kubectl: Kubectl,
  namespace: string,
  name: string,
  clusterRole: string,
): Promise<void> {
  const spec = { routes: [{ model: 'm', inferenceServiceRef: 'm' }] };
  const resource = { apiVersion: 'production-stack.vllm.ai/v1alpha1', kind: 'InferenceGateway' };
  ok(
    kubectl(['apply', '-n', namespace, '-f', '-'], stringify({ ...resource, metadata: { name }, spec })),
    `apply InferenceGateway ${name}`,
  );
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  await new KubernetesGatewayRuntime(new KubeClient(kc), {
    image: 'inference-controller:test',
    clusterRole,
  }).deployGateway({ namespace, name, spec: InferenceGatewaySpecSchema.parse(spec) });
}

/** The engine Deployment of an InferenceService `name` (simulator, one replica), without its owner. */
export function applyEngineDeployment(kubectl: Kubectl, namespace: string, name: string): void {
  const plan = renderPlan({
    namespace,
    name,
    uid: 'unused',
    spec: InferenceServiceSpecSchema.parse({
      modelName: `${name}-model`,
      runtime: { engine: 'simulator', replicas: 1 },
    }),
  });
  const deployment = deploymentFor(plan, plan.groups[0]!, 1) as { metadata: Record<string, unknown> };
  // No InferenceService exists here: an owner reference to one would have the garbage collector delete it.
  delete deployment.metadata.ownerReferences;
  ok(
    kubectl(['apply', '-n', namespace, '-f', '-'], stringify(deployment)),
    `apply the engine Deployment ${name}`,
  );
}
