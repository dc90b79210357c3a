import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_ROUTING, RouteTable, type RouteTarget } from '../../src/gateway/routes/route-table.ts';
import { GatewayError } from '../../src/gateway/errors.ts';

const target = (service: string, weight: number): RouteTarget => ({
  service,
  weight,
  endpoints: [],
  filters: {},
});
const table = (targets: RouteTarget[]) => {
  const t = new RouteTable();
  t.replace({ routes: [{ model: 'm', targets, routing: DEFAULT_ROUTING }] });
  return t;
};

describe('the route table resolves a request to its route and service', () => {
  it('answers undefined for a model without a route, and the only service otherwise', () => {
    const t = table([target('a', 100)]);
    assert.equal(t.resolve('other', { headers: {} }, []), undefined);
    assert.equal(t.resolve('m', { headers: {} }, [])?.target.service, 'a');
  });

  it('takes the session from the route header before the OpenAI user, and keeps a session on one service', () => {
    const t = table([target('a', 50), target('b', 50)]);
    const byHeader = t.resolve('m', { headers: { 'x-session-id': 's1' }, user: 'u' }, [7]);
    assert.equal(byHeader?.sessionKey, 's1');
    assert.equal(t.resolve('m', { headers: {}, user: 'u' }, [])?.sessionKey, 'u');
    const services = new Set(
      Array.from(
        { length: 20 },
        (_, i) => t.resolve('m', { headers: { 'x-session-id': 's1' } }, [i])?.target.service,
      ),
    );
    assert.equal(services.size, 1);
  });

  it('splits unkeyed requests by the first prefix block and weight, and never picks a zero weight', () => {
    const t = table([target('a', 1), target('b', 3), target('off', 0)]);
    const picked = Array.from(
      { length: 400 },
      (_, i) => t.resolve('m', { headers: {} }, [i])?.target.service,
    );
    assert.equal(picked.filter((s) => s === 'a').length, 100);
    assert.equal(picked.filter((s) => s === 'b').length, 300);
    assert.throws(
      () => table([target('off', 0)]).resolve('m', { headers: {} }, []),
      (err: unknown) => err instanceof GatewayError && err.code === 'no_healthy_upstream',
    );
  });
});
