/**
 * The worker's informer-backed view of the InferenceServices, indexed by model: the cache loop's tick and the
 * dependents' lookups read memory instead of LISTing every service of the namespace per call (at N=300 pairs
 * that LIST ran 3,075 times while they converged; issue 16). While its watch is failing, and for a namespace
 * it does not watch, reads fall back to a LIST.
 */
import { paths, type KubeClient } from '../../kube/client.ts';
import { watchCollection, type WatchedCollection } from '../../kube/informer.ts';
import { InformerIndex } from '../../kube/informer-index.ts';
import type { KubeObject } from '../../kube/objects.ts';
import { KIND_INFERENCE_SERVICE, servedModel, type ServingRole } from '../../api/index.ts';

export interface ServiceResource extends KubeObject {
  spec?: { modelName?: string; inferenceCacheRef?: string; runtime?: { engine?: 'vllm' | 'simulator' } };
  status?: {
    readyReplicas?: number;
    endpoints?: { name?: string; url?: string; ready?: boolean; role?: ServingRole }[];
  };
}

/** Where the activities find the InferenceServices of a model. */
export interface ServiceReader {
  servicesOfModel(namespace: string, model: string): Promise<ServiceResource[]>;
}

const modelKey = (namespace: string, model: string) => `${namespace}/${model}`;

/** InferenceServices grouped by namespace and the model they serve. */
export function serviceIndex(): InformerIndex<ServiceResource> {
  return new InformerIndex<ServiceResource>((s) => {
    const model = servedModel(KIND_INFERENCE_SERVICE, s.spec);
    return model === undefined ? undefined : modelKey(s.metadata.namespace ?? 'default', model);
  });
}

export class ServiceCache implements ServiceReader {
  private readonly index = serviceIndex();
  private informer?: WatchedCollection;
  private stopped = false;

  private constructor(
    private readonly fallback: ServiceReader,
    /** The one namespace watched, or every namespace. */
    private readonly namespace: string | undefined,
  ) {}

  /** Lists and watches the InferenceServices (of one namespace, or all); resolves once the first list is in. */
  static async start(
    kube: KubeClient,
    fallback: ServiceReader,
    options: { namespace?: string; log?: (message: string) => void } = {},
  ): Promise<ServiceCache> {
    const cache = new ServiceCache(fallback, options.namespace);
    const path = options.namespace
      ? paths.custom('inferenceservices', options.namespace)
      : paths.customAll('inferenceservices');
    cache.informer = await watchCollection(kube, path, 'InferenceService (worker cache)', {
      ...cache.index.handlers(),
      log: options.log ?? ((m) => console.log(`[worker] ${m}`)),
      stopped: () => cache.stopped,
    });
    cache.index.track(cache.informer);
    return cache;
  }

  async servicesOfModel(namespace: string, model: string): Promise<ServiceResource[]> {
    if (!this.index.fresh || (this.namespace !== undefined && namespace !== this.namespace))
      return this.fallback.servicesOfModel(namespace, model);
    return this.index.get(modelKey(namespace, model));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.informer?.stop();
  }
}
