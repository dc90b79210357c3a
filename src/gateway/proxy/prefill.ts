import type { ServingRole } from '../../api/index.ts';
import type { EndpointState } from '../endpoints/endpoint-state.ts';
import type { RequestContext } from '../request-context.ts';
import { NoCandidateError } from '../scheduling/framework.ts';
import type { Proxy } from './proxy.ts';
import { callUpstream, ConnectionFailure, MAX_CAPTURE_BYTES, readAll } from './upstream.ts';

/**
 * A preparing profile of P/D: an endpoint of `role` computes the prompt's KV cache (one token, not streamed)
 * and returns where the primary's endpoint can fetch it, which the request then carries. If it fails, the
 * primary's endpoint serves the whole request.
 */
export async function prefill(proxy: Proxy, ctx: RequestContext, role: ServingRole): Promise<void> {
  const { res, model } = ctx;
  const { metrics } = proxy.deps;
  const backendModel = ctx.target.backendModel ?? model;
  const body: Record<string, unknown> = {
    ...ctx.request.body,
    model: backendModel,
    stream: false,
    max_tokens: 1,
    kv_transfer_params: {
      do_remote_decode: true,
      do_remote_prefill: false,
      remote_engine_id: null,
      remote_block_ids: null,
      remote_host: null,
      remote_port: null,
    },
  };
  delete body.stream_options;
  if ('max_completion_tokens' in body) body.max_completion_tokens = 1;
  let endpoint: EndpointState;
  try {
    endpoint = ctx.scheduler.schedule({ ...ctx.scheduling, role, now: Date.now() }, ctx.endpoints).endpoint;
  } catch (err) {
    if (!(err instanceof NoCandidateError)) throw err;
    metrics.prefillDecode.inc({ model, outcome: 'prefill_failed' });
    return;
  }
  endpoint.inFlight++;
  const sent = proxy.sendPrefix(ctx, endpoint);
  const call = callUpstream(
    endpoint,
    ctx.path,
    ctx.req.headers,
    Buffer.from(JSON.stringify(body)),
    proxy.upstream,
  );
  const onClose = () => call.request.destroy();
  res.once('close', onClose);
  try {
    const upstream = await call.response;
    const text = await readAll(upstream, MAX_CAPTURE_BYTES);
    if (upstream.statusCode !== 200) throw new Error(`status ${upstream.statusCode}`);
    const params = (JSON.parse(text.toString('utf8')) as { kv_transfer_params?: unknown }).kv_transfer_params;
    if (typeof params !== 'object' || params === null)
      throw new Error('the response carries no kv_transfer_params');
    endpoint.recordSuccess();
    proxy.countPrefix(ctx, sent);
    ctx.forward = Buffer.from(
      JSON.stringify({ ...ctx.request.body, model: backendModel, kv_transfer_params: params }),
    );
    ctx.responseHeaders['x-prefill-endpoint'] = endpoint.name;
    proxy.recordHot(ctx, role, endpoint);
    metrics.prefillDecode.inc({ model, outcome: 'ok' });
  } catch (err) {
    // Whatever failed, the prefill connection must not linger (a half-read answer holds a socket).
    call.request.destroy();
    if (res.destroyed) return;
    if (err instanceof ConnectionFailure && !err.local && !err.stale) proxy.recordFailure(endpoint);
    proxy.options.log(
      `prefill on ${endpoint.name} failed (${(err as Error).message}); the decode endpoint serves the whole request`,
    );
    metrics.prefillDecode.inc({ model, outcome: 'prefill_failed' });
  } finally {
    endpoint.inFlight--;
    res.off('close', onClose);
  }
}
