import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { InferenceGatewaySpecSchema, InferenceServiceSpecSchema } from '../../api/index.ts';
import { filtersFrom } from './filters-config.ts';
import { DEFAULT_ROUTING, type RouteSnapshot, type RouteSource } from './route-table.ts';

const Routing = InferenceGatewaySpecSchema.pick({
  schedulingPolicy: true,
  routeStrategy: true,
  sessionAffinity: true,
  sessionHeader: true,
  loadBound: true,
}).partial();

const EndpointSchema = z.strictObject({
  url: z
    .url({ error: 'must be an http(s) URL such as http://127.0.0.1:8000' })
    .describe('Base URL of the replica.'),
  name: z.string().min(1).optional().describe('Stable name for consistent hashing; defaults to host:port.'),
  role: z.enum(['both', 'prefill', 'decode']).default('both'),
});

const ServiceSchema = z.strictObject({
  name: z.string().min(1),
  weight: z.int().min(0).max(1000).default(100),
  backendModel: z
    .string()
    .min(1)
    .optional()
    .describe('The model name the endpoints serve, if not the route model.'),
  endpoints: z.array(EndpointSchema).min(1, { error: 'must list at least one endpoint' }),
  nlpFilters: InferenceServiceSpecSchema.shape.nlpFilters,
});

/** The static route file (`infctl gateway --config`): gateway-wide routing, then one entry per model. */
export const StaticConfigSchema = z.strictObject({
  ...Routing.shape,
  weights: z.record(z.string(), z.number().min(0)).optional().describe('Scorer weights by scorer name.'),
  models: z
    .array(
      z.strictObject({
        model: z.string().min(1),
        routing: Routing.optional().describe('Overrides of the gateway-wide routing for this model.'),
        services: z.array(ServiceSchema).min(1, { error: 'must list at least one service' }),
      }),
    )
    .min(1, { error: 'must list at least one model' }),
});

export type StaticConfig = z.infer<typeof StaticConfigSchema>;

/** Parses a static route file, or throws an error naming the file, the field and the problem. */
export function parseStaticConfig(
  text: string,
  file: string,
): { config: StaticConfig; snapshot: RouteSnapshot } {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new Error(`${file}: not valid YAML: ${(err as Error).message}`);
  }
  const parsed = StaticConfigSchema.safeParse(doc);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${file}: ${i.path.join('.') || '(top)'}: ${i.message}`);
    throw new Error(problems.join('\n'));
  }
  const config = parsed.data;
  const base = {
    schedulingPolicy: config.schedulingPolicy ?? DEFAULT_ROUTING.schedulingPolicy,
    routeStrategy: config.routeStrategy ?? DEFAULT_ROUTING.routeStrategy,
    sessionAffinity: config.sessionAffinity ?? DEFAULT_ROUTING.sessionAffinity,
    sessionHeader: config.sessionHeader ?? DEFAULT_ROUTING.sessionHeader,
    loadBound: config.loadBound ?? DEFAULT_ROUTING.loadBound,
  };
  const snapshot: RouteSnapshot = {
    routes: config.models.map((m) => ({
      model: m.model,
      routing: {
        ...base,
        ...Object.fromEntries(Object.entries(m.routing ?? {}).filter(([, v]) => v !== undefined)),
      },
      targets: m.services.map((s) => ({
        service: s.name,
        weight: s.weight,
        backendModel: s.backendModel,
        filters: filtersFrom(s.nlpFilters, 'default'),
        endpoints: s.endpoints.map((e) => ({
          name: e.name ?? new URL(e.url).host,
          url: e.url.replace(/\/+$/, ''),
          role: e.role,
          ready: true,
        })),
      })),
    })),
  };
  return { config, snapshot };
}

/** Routes from a YAML file, reloaded when the file changes or on SIGHUP; a bad edit keeps the last good table. */
export class StaticRouteSource implements RouteSource {
  readonly description: string;
  private watcher?: FSWatcher;
  private debounce?: NodeJS.Timeout;
  private readonly onHangup = () => this.reload();
  private onUpdate: (snapshot: RouteSnapshot) => void = () => {};
  private lastText = '';

  constructor(
    private readonly file: string,
    private readonly log: (message: string) => void = () => {},
  ) {
    this.description = `static file ${file}`;
  }

  /** The scorer weights the file sets, if any (read at start). */
  weights?: Record<string, number>;

  async start(onUpdate: (snapshot: RouteSnapshot) => void): Promise<void> {
    this.onUpdate = onUpdate;
    const text = readFileSync(this.file, 'utf8');
    const { config, snapshot } = parseStaticConfig(text, this.file);
    this.weights = config.weights;
    this.lastText = text;
    onUpdate(snapshot);
    // Watch the folder: editors and ConfigMap mounts replace the file rather than writing it in place.
    this.watcher = watch(dirname(this.file), (_event, name) => {
      if (name !== null && name !== basename(this.file) && !name.startsWith('..')) return;
      clearTimeout(this.debounce);
      this.debounce = setTimeout(() => this.reload(), 100);
    });
    process.on('SIGHUP', this.onHangup);
  }

  reload(): void {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      this.log(`cannot read ${this.file} (${(err as Error).message}); keeping the current routes`);
      return;
    }
    if (text === this.lastText) return;
    try {
      const { snapshot } = parseStaticConfig(text, this.file);
      this.lastText = text;
      this.onUpdate(snapshot);
      this.log(`reloaded ${this.file}: ${snapshot.routes.length} models`);
    } catch (err) {
      this.log(`${(err as Error).message}\nkeeping the current routes`);
    }
  }

  async stop(): Promise<void> {
    clearTimeout(this.debounce);
    this.watcher?.close();
    process.off('SIGHUP', this.onHangup);
  }
}
