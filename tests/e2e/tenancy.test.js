// --api-key: every /v1/* route needs a key; each key is a tenant with its own
// prefix-cache namespace (the same prompt under two keys shares nothing), a
// cache_salt splits a namespace further, and a tenant flushes only its own.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer, client, eventually } = require('./server.js');

const PROMPT = 'A confidential prompt that one tenant must not be able to probe through cache timing. ';

test('api keys and cache namespaces', async (t) => {
  const server = await startServer(['--api-key', 'key-alpha', '--api-key', 'key-beta']);
  const alpha = client(server, 'key-alpha');
  const beta = client(server, 'key-beta');
  const cached = async (c, extra = {}) => {
    const r = await c.completions.create({ model: 'tiny-llama', prompt: PROMPT, max_tokens: 2, ...extra });
    return r.usage.prompt_tokens_details.cached_tokens;
  };
  try {
    await t.test('keys are required on /v1 only', async () => {
      for (const headers of [{}, { Authorization: 'Bearer nope' }, { Authorization: 'key-alpha' },
                             { Authorization: 'Basic a2V5LWFscGhh' }]) {
        const r = await server.post('/v1/completions', { prompt: 'x' }, headers);
        assert.equal(r.status, 401, r.text);
        assert.equal(r.json.error.type, 'authentication_error');
        assert.equal(r.json.error.code, 'invalid_api_key');
        assert.equal((await server.get('/v1/models', headers)).status, 401);
        assert.equal((await server.get('/v1/cache/stats', headers)).status, 401);
      }
      await assert.rejects(client(server, 'wrong').models.list(), (e) => e.status === 401);
      assert.equal((await server.get('/health')).status, 200);
      assert.equal((await server.get('/metrics')).status, 200);
      assert.equal((await alpha.models.list()).data[0].id, 'tiny-llama');
    });

    await t.test('tenants do not share cached prefixes', async () => {
      const n = PROMPT.length + 1;
      assert.equal(await cached(alpha), 0);
      assert.equal(await cached(alpha), n - 1);
      assert.equal(await cached(beta), 0);
      assert.equal(await cached(beta), n - 1);
      // A salt is a namespace of its own within the tenant.
      assert.equal(await cached(alpha, { cache_salt: 's1' }), 0);
      assert.equal(await cached(alpha, { cache_salt: 's1' }), n - 1);
      assert.equal(await cached(beta, { cache_salt: 's1' }), 0);
    });

    await t.test('a tenant flushes only its own namespace', async () => {
      const flush = async (key, body) => {
        const r = await server.post('/v1/cache/flush', body, { Authorization: `Bearer ${key}` });
        assert.equal(r.status, 200, r.text);
        return r.json.flushed_pages;
      };
      assert.ok(await flush('key-alpha', {}) > 0);
      assert.equal(await cached(alpha), 0);
      assert.equal(await cached(beta), PROMPT.length);  // beta's survived
      assert.ok(await flush('key-alpha', { cache_salt: 's1' }) > 0);
      assert.equal(await cached(alpha, { cache_salt: 's1' }), 0);
      assert.equal(await cached(beta, { cache_salt: 's1' }), PROMPT.length);
      const bad = await server.post('/v1/cache/flush', { everything: true }, { Authorization: 'Bearer key-beta' });
      assert.equal(bad.status, 400);
    });

    await t.test('/v1/cache/stats shows a tenant its own calls only', async () => {
      const stats = (key) => server.json('/v1/cache/stats', { Authorization: `Bearer ${key}` });
      const a0 = await stats('key-alpha');
      const b0 = await stats('key-beta');
      assert.equal(a0.scope, 'tenant');
      assert.ok(!('pages' in a0) && !('cache' in a0), 'no shared pool or cache figures');
      await cached(alpha, { cache_salt: 'stats', ignore_eos: true });
      const second = await alpha.completions.create({ model: 'tiny-llama', prompt: PROMPT, max_tokens: 3,
                                                      cache_salt: 'stats', stream: true, ignore_eos: true });
      for await (const chunk of second) void chunk;
      // A call counts once the server has written its end (a moment after the
      // client read it).
      const a1 = await eventually(async () => {
        const s = await stats('key-alpha');
        return s.requests.finished === a0.requests.finished + 2 ? s : null;
      }, { what: 'both calls counted' });
      assert.equal(a1.requests.running, 0);
      assert.equal(a1.requests.generation_tokens, a0.requests.generation_tokens + 5);
      assert.equal(a1.requests.cached_prompt_tokens, a0.requests.cached_prompt_tokens + PROMPT.length);
      assert.deepEqual(await stats('key-beta'), b0);  // beta's view did not move
    });
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

test('without keys a flush with no salt empties the cache', async () => {
  const server = await startServer([]);
  const openai = client(server);
  try {
    const run = async (extra = {}) =>
      (await openai.completions.create({ model: 'tiny-llama', prompt: PROMPT, max_tokens: 2, ...extra }))
        .usage.prompt_tokens_details.cached_tokens;
    await run();
    await run({ cache_salt: 'x' });
    assert.equal(await run(), PROMPT.length);
    const one = await server.post('/v1/cache/flush', { cache_salt: 'x' });
    assert.ok(one.json.flushed_pages > 0);
    assert.equal(await run(), PROMPT.length);  // the unsalted namespace is still there
    const all = await server.post('/v1/cache/flush', '');
    assert.equal(all.status, 200);
    assert.ok(all.json.flushed_pages > 0);
    assert.equal(await run(), 0);
    const stats = await server.json('/v1/cache/stats');
    assert.ok(stats.cache.flushed_pages > 0);
  } finally {
    assert.equal(await server.stop(), 0);
  }
});
