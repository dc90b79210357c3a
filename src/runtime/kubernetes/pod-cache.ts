/**
 * The worker's informer-backed view of the pods the InferenceServices own (those with the inference-service
 * label), grouped by namespace and service: an InferenceService's observation reads memory instead of a LIST of
 * pods per poll (issue 16). While its watch is failing, and for a namespace it does not watch, it answers
 * nothing and the runtime LISTs.
 */
import { LABELS } from '../../api/index.ts';
import { paths, type KubeClient } from '../../kube/client.ts';
import { watchCollection, type WatchedCollection } from '../../kube/informer.ts';
import { InformerIndex } from '../../kube/informer-index.ts';
import type { PodObject } from '../../kube/objects.ts';

const serviceKey = (namespace: string, service: string) => `${namespace}/${service}`;

export class PodCache {
  private readonly index = new InformerIndex<PodObject>((p) => {
    const service = p.metadata.labels?.[LABELS.service];
    return service === undefined ? undefined : serviceKey(p.metadata.namespace ?? 'default', service);
  });
  private informer?: WatchedCollection;
  private stopped = false;

  private constructor(private readonly namespace: string | undefined) {}

  /** Lists and watches the services' pods (of one namespace, or all); resolves once the first list is in. */
  static async start(
    kube: KubeClient,
    options: { namespace?: string; log?: (message: string) => void } = {},
  ): Promise<PodCache> {
    const cache = new PodCache(options.namespace);
    const path = options.namespace ? paths.pods(options.namespace) : paths.allPods();
    cache.informer = await watchCollection(
      kube,
      path,
      'pods (worker cache)',
      {
        ...cache.index.handlers(),
        log: options.log ?? ((m) => console.log(`[worker] ${m}`)),
        stopped: () => cache.stopped,
      },
      LABELS.service,
    );
    cache.index.track(cache.informer);
    return cache;
  }

  /** The pods of an InferenceService, or undefined when the cache cannot answer (the caller LISTs). */
  podsOf(namespace: string, service: string): PodObject[] | undefined {
    if (!this.index.fresh || (this.namespace !== undefined && namespace !== this.namespace)) return undefined;
    return this.index.get(serviceKey(namespace, service));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.informer?.stop();
  }
}
