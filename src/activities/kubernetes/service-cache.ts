/**
 * The worker's informer-backed view of the InferenceServices, indexed by model: the cache loop's tick and the
 * dependents' lookups read memory instead of LISTing every service of the namespace per call (at N=300 pairs
 * that LIST ran 3,075 times while they converged; issue 16). While its watch is failing, and for a namespace
 * it does not watch, reads fall back to a LIST, so a down API server is waited out as before.
 */
import { paths, type KubeClient } from '../../kube/client.ts';
import { watchCollection, type WatchedCollection } from '../../kube/informer.ts';
import type { KubeObject } from '../../kube/objects.ts';
import type { ServingRole } from '../../api/index.ts';

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

/** How long a restarted watch must stay up before reads trust the cache again. */
const SETTLE_MS = 2000;

const modelKey = (namespace: string, model: string) => `${namespace}/${model}`;
const objectKey = (o: KubeObject) => `${o.metadata.namespace ?? 'default'}/${o.metadata.name}`;

/** A model → services index kept by the informer's events. */
export class ServiceIndex {
  private readonly byModel = new Map<string, Map<string, ServiceResource>>();
  /** The model each service was indexed under, to move it when its spec changes model. */
  private readonly modelOf = new Map<string, string>();

  put(service: ServiceResource): void {
    this.remove(service);
    const model = service.spec?.modelName;
    if (model === undefined) return;
    const key = modelKey(service.metadata.namespace ?? 'default', model);
    let services = this.byModel.get(key);
    if (!services) this.byModel.set(key, (services = new Map()));
    services.set(service.metadata.name, service);
    this.modelOf.set(objectKey(service), key);
  }

  remove(service: KubeObject): void {
    const key = this.modelOf.get(objectKey(service));
    if (key === undefined) return;
    this.modelOf.delete(objectKey(service));
    const services = this.byModel.get(key);
    services?.delete(service.metadata.name);
    if (services?.size === 0) this.byModel.delete(key);
  }

  servicesOfModel(namespace: string, model: string): ServiceResource[] {
    return [...(this.byModel.get(modelKey(namespace, model))?.values() ?? [])];
  }
}

export class ServiceCache implements ServiceReader {
  private readonly index = new ServiceIndex();
  private informer?: WatchedCollection;
  private stopped = false;
  /** False from a watch error until the restarted watch has stayed up for {@link SETTLE_MS}. */
  private fresh = true;
  private errors = 0;

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
    const informer = await watchCollection(kube, path, 'InferenceService (worker cache)', {
      onChange: (o) => cache.index.put(o as ServiceResource),
      onDelete: (o) => cache.index.remove(o as KubeObject),
      log: options.log ?? ((m) => console.log(`[worker] ${m}`)),
      stopped: () => cache.stopped,
    });
    informer.on('error', () => {
      cache.errors++;
      cache.fresh = false;
    });
    informer.on('connect', () => {
      const errors = cache.errors;
      setTimeout(() => {
        if (cache.errors === errors) cache.fresh = true;
      }, SETTLE_MS).unref();
    });
    cache.informer = informer;
    return cache;
  }

  async servicesOfModel(namespace: string, model: string): Promise<ServiceResource[]> {
    if (!this.fresh || (this.namespace !== undefined && namespace !== this.namespace))
      return this.fallback.servicesOfModel(namespace, model);
    return this.index.servicesOfModel(namespace, model);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.informer?.stop();
  }
}
