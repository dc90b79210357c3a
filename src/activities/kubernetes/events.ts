import type { KubeClient, KubeObject } from '../../runtime/kubernetes/kube-client.ts';
import { paths } from '../../runtime/kubernetes/kube-client.ts';

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
