import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { startRedis, type RedisServer } from '../helpers/components.ts';

describe('Redis (Debian redis-server)', () => {
  let client: Redis;
  let server: RedisServer;

  before(async () => {
    server = await startRedis();
    client = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await client.connect();
  });
  after(() => {
    client.disconnect();
    server.stop();
  });

  it('answers PING', async () => {
    assert.equal(await client.ping(), 'PONG');
  });

  it('expires a key with a TTL', async () => {
    await client.set('infctl:ttl-probe', 'v', 'PX', 300);
    assert.equal(await client.get('infctl:ttl-probe'), 'v');
    const ttl = await client.pttl('infctl:ttl-probe');
    assert.ok(ttl > 0 && ttl <= 300, `pttl ${ttl}`);
    await new Promise((r) => setTimeout(r, 450));
    assert.equal(await client.get('infctl:ttl-probe'), null);
  });
});
