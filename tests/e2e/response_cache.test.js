// The response cache end to end: two radixlm servers sharing one real Redis
// (Debian's redis-server, started here on 127.0.0.1 and a free port).
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { spawn } = require('node:child_process');
const { startServer, client, eventually } = require('./server.js');

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// redis-server with no persistence; start() again restarts it on the same port.
function redisOn(port) {
  let proc = null;
  return {
    async start() {
      proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
                   { stdio: 'ignore' });
      proc.on('error', (e) => { throw new Error(`redis-server: ${e.message} (scripts/setup.sh installs it)`); });
      await eventually(() => new Promise((resolve) => {
        const c = net.connect(port, '127.0.0.1', () => { c.end(); resolve(true); });
        c.on('error', () => resolve(false));
      }), { what: 'redis-server to accept connections' });
    },
    async kill() {
      if (!proc) return;
      const exited = new Promise((r) => proc.on('exit', r));
      proc.kill('SIGKILL');
      await exited;
      proc = null;
    },
  };
}

let redis, a, b;
before(async () => {
  const port = await freePort();
  redis = redisOn(port);
  await redis.start();
  const flags = ['--redis-url', `redis://127.0.0.1:${port}`, '--redis-prefix', `test${port}:`];
  [a, b] = await Promise.all([startServer(flags), startServer(flags)]);
});
after(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await redis?.kill();
});

const body = (extra = {}) => ({ model: 'tiny-llama', prompt: 'The response cache', max_tokens: 12,
                                temperature: 0, ...extra });

test('a repeated greedy request is a hit on the other replica, identical but for id and usage', async () => {
  const first = await a.post('/v1/completions', body({ prompt: 'shared across replicas', logprobs: 2 }));
  assert.equal(first.status, 200, first.text);
  assert.equal(first.headers.get('x-radixlm-cache'), 'miss');
  assert.deepEqual(first.json.usage.response_cache, { hit: false });

  const second = await b.post('/v1/completions', body({ prompt: 'shared across replicas', logprobs: 2 }));
  assert.equal(second.status, 200, second.text);
  assert.equal(second.headers.get('x-radixlm-cache'), 'hit');
  assert.deepEqual(second.json.usage.response_cache, { hit: true, layer: 'l2' });
  assert.deepEqual(second.json.choices, first.json.choices);
  assert.equal(second.json.usage.prompt_tokens, first.json.usage.prompt_tokens);
  assert.equal(second.json.usage.prompt_tokens_details.cached_tokens, first.json.usage.prompt_tokens);

  const third = await b.post('/v1/completions', body({ prompt: 'shared across replicas', logprobs: 2 }));
  assert.deepEqual(third.json.usage.response_cache, { hit: true, layer: 'l1' });  // promoted

  const m = await b.metrics();
  assert.equal(m['radixlm:response_cache_hits_total{layer="l2"}'], 1);
  assert.equal(m['radixlm:response_cache_hits_total{layer="l1"}'], 1);
});

test('sampled requests without a seed are not cached; the cache field overrides', async () => {
  const sampled = await a.post('/v1/completions', body({ prompt: 'sampled', temperature: 0.8 }));
  assert.equal(sampled.headers.get('x-radixlm-cache'), null);
  assert.equal(sampled.json.usage.response_cache, undefined);
  const forced = body({ prompt: 'sampled', temperature: 0.8, cache: { mode: 'readwrite' } });
  assert.equal((await a.post('/v1/completions', forced)).headers.get('x-radixlm-cache'), 'miss');
  assert.equal((await a.post('/v1/completions', forced)).headers.get('x-radixlm-cache'), 'hit');
  const off = await a.post('/v1/completions', { ...forced, cache: { mode: 'off' } });
  assert.equal(off.headers.get('x-radixlm-cache'), null);
  const bad = await a.post('/v1/completions', body({ cache: { mode: 'sometimes' } }));
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.param, 'cache.mode');
  assert.match(bad.json.error.message, /off, read, write or readwrite/);
  const badTtl = await a.post('/v1/completions', body({ cache: { ttl: 0 } }));
  assert.equal(badTtl.status, 400);
  assert.equal(badTtl.json.error.param, 'cache.ttl');
});

test('every parameter that shapes the output is part of the key', async () => {
  const base = body({ prompt: 'key parts', seed: 7, temperature: 0.7 });
  assert.equal((await a.post('/v1/completions', base)).headers.get('x-radixlm-cache'), 'miss');
  for (const change of [{ max_tokens: 11 }, { seed: 8 }, { stop: ['x'] }, { logprobs: 1 }, { echo: true },
                        { prompt: 'key parts!' }, { cache_salt: 'tenant-b' }, { top_k: 5 }, { temperature: 0.6 }]) {
    const r = await a.post('/v1/completions', { ...base, ...change });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-radixlm-cache'), 'miss', JSON.stringify(change));
  }
  assert.equal((await a.post('/v1/completions', base)).headers.get('x-radixlm-cache'), 'hit');
});

test('a streamed hit is a valid OpenAI stream with the same text (parsed by the SDK)', async () => {
  const messages = [{ role: 'user', content: 'Stream me from the cache' }];
  const first = await client(a).chat.completions.create({ model: 'tiny-llama', messages, max_tokens: 10,
                                                          temperature: 0 });
  let text = '';
  let usage = null;
  let finish = null;
  const stream = await client(b).chat.completions.create({ model: 'tiny-llama', messages, max_tokens: 10,
                                                           temperature: 0, stream: true,
                                                           stream_options: { include_usage: true } });
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.delta.content ?? '';
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.equal(text, first.choices[0].message.content);
  assert.equal(finish, first.choices[0].finish_reason);
  assert.deepEqual(usage.response_cache, { hit: true, layer: 'l2' });

  // The raw bytes: data: lines of JSON chunks, then [DONE].
  const raw = await b.post('/v1/chat/completions', { model: 'tiny-llama', messages, max_tokens: 10, temperature: 0,
                                                     stream: true });
  assert.equal(raw.headers.get('x-radixlm-cache'), 'hit');
  assert.match(raw.headers.get('content-type'), /text\/event-stream/);
  const events = raw.text.split('\n\n').filter((e) => e);
  assert.equal(events.at(-1), 'data: [DONE]');
  for (const e of events.slice(0, -1)) {
    assert.ok(e.startsWith('data: '), e);
    const chunk = JSON.parse(e.slice(6));
    assert.equal(chunk.object, 'chat.completion.chunk');
  }

  // A streamed miss is stored too: its replay (not streamed) has the same text.
  const fresh = [{ role: 'user', content: 'Stored from a stream' }];
  let streamed = '';
  for await (const chunk of await client(a).chat.completions.create({ model: 'tiny-llama', messages: fresh,
                                                                       max_tokens: 8, temperature: 0,
                                                                       stream: true })) {
    streamed += chunk.choices[0]?.delta?.content ?? '';
  }
  const replay = await b.post('/v1/chat/completions', { model: 'tiny-llama', messages: fresh, max_tokens: 8,
                                                        temperature: 0 });
  assert.equal(replay.headers.get('x-radixlm-cache'), 'hit');
  assert.equal(replay.json.choices[0].message.content, streamed);
});

test('entries expire with their TTL', async () => {
  const r = body({ prompt: 'short lived', cache: { ttl: 1 } });
  assert.equal((await a.post('/v1/completions', r)).headers.get('x-radixlm-cache'), 'miss');
  assert.equal((await b.post('/v1/completions', r)).headers.get('x-radixlm-cache'), 'hit');
  await new Promise((res) => setTimeout(res, 1300));
  assert.equal((await b.post('/v1/completions', r)).headers.get('x-radixlm-cache'), 'miss');
});

test('flush by namespace removes that namespace only, from both layers and both replicas', async () => {
  const t1 = body({ prompt: 'flush me', cache_salt: 'team-1' });
  const t2 = body({ prompt: 'flush me', cache_salt: 'team-2' });
  await a.post('/v1/completions', t1);
  await a.post('/v1/completions', t2);
  assert.equal((await b.post('/v1/completions', t1)).headers.get('x-radixlm-cache'), 'hit');
  const flushed = await a.post('/v1/cache/responses/flush', { cache_salt: 'team-1' });
  assert.equal(flushed.status, 200, flushed.text);
  assert.ok(flushed.json.flushed >= 1);
  assert.equal((await a.post('/v1/completions', t1)).headers.get('x-radixlm-cache'), 'miss');
  assert.equal((await a.post('/v1/completions', t2)).headers.get('x-radixlm-cache'), 'hit');
  // b held t1 in its own L1 too; the flush reached it (Redis pub/sub), so b's
  // answer is a's fresh entry in Redis, not its old copy.
  await new Promise((res) => setTimeout(res, 100));
  const metrics = await b.metrics();
  assert.ok(metrics['radixlm:response_cache_remote_flushes_total'] >= 1, JSON.stringify(metrics));
  const bad = await a.post('/v1/cache/responses/flush', { cache_salt: '' });
  assert.equal(bad.status, 400);
  const unknown = await a.post('/v1/cache/responses/flush', { everything: true });
  assert.equal(unknown.status, 400);
});

test('Redis killed mid-run: requests are still answered, errors counted; recovery when it returns', async () => {
  const before = await a.metrics();
  await redis.kill();
  for (let i = 0; i < 4; ++i) {
    const r = await a.post('/v1/completions', body({ prompt: `while redis is down ${i}` }));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-radixlm-cache'), 'miss');
  }
  const during = await a.metrics();
  assert.ok(during['radixlm:response_cache_store_errors_total'] > before['radixlm:response_cache_store_errors_total']);
  // L1 still answers what this replica holds.
  const again = await a.post('/v1/completions', body({ prompt: 'while redis is down 0' }));
  assert.deepEqual(again.json.usage.response_cache, { hit: true, layer: 'l1' });

  await redis.start();  // empty again
  let attempt = 0;
  await eventually(async () => {
    // A fresh prompt each time (a replica's own L1 would answer a repeated one):
    // a stores it once its back-off window has passed, b finds it in Redis.
    const probe = body({ prompt: `after recovery ${attempt++}` });
    await a.post('/v1/completions', probe);
    const r = await b.post('/v1/completions', probe);
    return r.json.usage.response_cache?.layer === 'l2';
  }, { timeoutMs: 15000, what: 'the replicas to share entries through Redis again' });
  assert.match(a.output().stderr, /response cache: \d+ store error/);
});

test('radixlm cache warm stores a file of requests; bad lines are named and nothing is sent', async () => {
  const fs = require('node:fs');
  const os = require('node:os');
  const path = require('node:path');
  const { execFile } = require('node:child_process');
  const run = (args) => new Promise((resolve) => {
    execFile(process.env.RADIXLM, args, (error, stdout, stderr) => resolve({ code: error ? error.code : 0, stdout, stderr }));
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warm-'));
  const chat = { model: 'tiny-llama', messages: [{ role: 'user', content: 'warm chat' }], max_tokens: 6,
                 temperature: 0.9 };
  const completion = { model: 'tiny-llama', prompt: 'warm completion', max_tokens: 6, temperature: 0 };
  const good = path.join(dir, 'good.jsonl');
  fs.writeFileSync(good, [JSON.stringify(chat), '',
                          JSON.stringify({ endpoint: '/v1/completions', body: completion })].join('\n'));
  const first = await run(['cache', 'warm', '--base-url', a.url, '--file', good]);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /2 requests: 2 stored, 0 already cached, 0 failed/);
  const again = await run(['cache', 'warm', '--base-url', b.url, '--file', good]);
  assert.match(again.stdout, /2 requests: 0 stored, 2 already cached, 0 failed/);
  const hit = await b.post('/v1/chat/completions', { ...chat, cache: { mode: 'readwrite' } });
  assert.equal(hit.headers.get('x-radixlm-cache'), 'hit');

  const bad = path.join(dir, 'bad.jsonl');
  fs.writeFileSync(bad, `${JSON.stringify(completion)}\n{"endpoint": "/v1/embeddings", "body": {}}\nnot json\n`);
  const refused = await run(['cache', 'warm', '--base-url', a.url, '--file', bad]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /bad\.jsonl:2: endpoint '\/v1\/embeddings'/);
  assert.match(refused.stderr, /bad\.jsonl:3: not a JSON object/);
  assert.match(refused.stderr, /2 bad line\(s\)/);
  fs.rmSync(dir, { recursive: true });
});
