import { API_VERSION, KIND_INFERENCE_SERVICE } from '../../api/index.ts';
import type { KubeClient } from '../../kube/client.ts';
import { paths } from '../../kube/client.ts';
import type { KubeObject } from '../../kube/objects.ts';
import type { RecordServiceEvent } from '../../runtime/kubernetes/kubernetes-runtime.ts';

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
}

/** Records a Kubernetes Event on a resource; failures to record are logged, never fatal. */
export async function recordEvent(
  kube: KubeClient,
  ref: ObjectRef,
  type: 'Normal' | 'Warning',
  reason: string,
  message: string,
): Promise<void> {
  const now = new Date().toISOString();
  const event: KubeObject = {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: {
      name: `${ref.name}.${Date.now().toString(16)}${Math.floor(Math.random() * 0xfff).toString(16)}`,
      namespace: ref.namespace,
    },
    involvedObject: {
      apiVersion: ref.apiVersion,
      kind: ref.kind,
      name: ref.name,
      namespace: ref.namespace,
      ...(ref.uid ? { uid: ref.uid } : {}),
    },
    reason,
    message: message.slice(0, 1024),
    type,
    source: { component: 'inference-controller' },
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1,
  };
  try {
    await kube.request('POST', paths.events(ref.namespace), event);
  } catch (err) {
    console.warn(`could not record event ${reason} on ${ref.kind}/${ref.name}: ${(err as Error).message}`);
  }
}

/** Events on the InferenceService a plan serves: how the Kubernetes runtime records Applied and its rollouts. */
export const serviceEvents =
  (kube: KubeClient): RecordServiceEvent =>
  (plan, type, reason, message) =>
    recordEvent(
      kube,
      {
        apiVersion: API_VERSION,
        kind: KIND_INFERENCE_SERVICE,
        namespace: plan.namespace,
        name: plan.owner.name,
        uid: plan.owner.uid,
      },
      type,
      reason,
      message,
    );
