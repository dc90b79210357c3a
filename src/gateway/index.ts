/** The gateway's public surface: what `infctl gateway` and the tests start it with. */
export { DEFAULT_GATEWAY_OPTIONS, Gateway, type GatewayOptions } from './gateway.ts';
export { localEmbedderFactory } from './embedding/local-embedder.ts';
export { KubernetesRouteSource } from './routes/kubernetes-source.ts';
export type { RouteSource } from './routes/route-table.ts';
export { StaticRouteSource } from './routes/static-source.ts';
