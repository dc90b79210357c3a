// Worker threads do not inherit the TypeScript loader the gateway runs under (Node 20); register it here,
// then load the worker itself.
import { register } from 'tsx/esm/api';

register();
await import('./minilm-worker.ts');
