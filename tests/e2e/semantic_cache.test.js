// /v1/embeddings and the semantic response cache end to end: the served model's
// embeddings, near-duplicates answered above the threshold and not below, the
// scope (sampling parameters, tenant), TTL, flush, streamed hits, and a second
// radixlm as the embeddings server, killed mid-run.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startServer, client, eventually } = require('./server.js');

const THRESHOLD = 0.99;
let plain, semantic, embedServer, remote;
before(async () => {
  [plain, semantic, embedServer] = await Promise.all([
    startServer(),
    startServer(['--semantic-cache', '--semantic-threshold', String(THRESHOLD)]),
    startServer(),
  ]);
  remote = await startServer(['--semantic-cache', '--semantic-threshold', String(THRESHOLD),
                              '--semantic-embeddings', embedServer.url, '--semantic-embeddings-model', 'tiny-llama',
                              '--semantic-embeddings-timeout', '1']);
});
after(async () => {
  await Promise.all([plain?.stop(), semantic?.stop(), embedServer?.stop(), remote?.stop()]);
});

const A = 'The response cache answers repeated questions about the weather in Paris without running the model again.';
const NEAR = A.replace('Paris', 'Lyon');      // one word of sixteen
const FAR = 'Seven hungry cats chased a small red ball across the kitchen floor at midnight.';

const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);
async function embed(server, input, extra = {}) {
  const r = await server.post('/v1/embeddings', { model: 'tiny-llama', input, ...extra });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

test('/v1/embeddings: unit vectors of the hidden size, batched equal to alone, base64 the same floats', async () => {
  const many = await embed(plain, [A, NEAR, FAR]);
  assert.equal(many.object, 'list');
  assert.equal(many.model, 'tiny-llama');
  assert.deepEqual(many.data.map((d) => [d.object, d.index]), [['embedding', 0], ['embedding', 1], ['embedding', 2]]);
  const config = require(require('node:path').join(process.env.RADIXLM_MODEL, 'config.json'));
  for (const d of many.data) {
    assert.equal(d.embedding.length, config.hidden_size);
    assert.ok(Math.abs(Math.sqrt(dot(d.embedding, d.embedding)) - 1) < 1e-5);
  }
  const alone = await embed(plain, NEAR);
  assert.deepEqual(alone.data[0].embedding, many.data[1].embedding);
  assert.equal(many.usage.total_tokens, many.usage.prompt_tokens);
  assert.ok(many.usage.prompt_tokens > 30);

  // The same text after its prefix was cached by a completion: nothing reused, same bits.
  await plain.post('/v1/completions', { prompt: `${A} And then some more.`, max_tokens: 2, temperature: 0 });
  assert.deepEqual((await embed(plain, A)).data[0].embedding, many.data[0].embedding);

  const b64 = await embed(plain, NEAR, { encoding_format: 'base64' });
  const bytes = Buffer.from(b64.data[0].embedding, 'base64');
  const floats = Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4));
  // JSON numbers are the shortest text of each F32; read back as F32 they are the same bits.
  assert.deepEqual(floats, alone.data[0].embedding.map(Math.fround));

  // Token ids work too, and the official client reads the answer.
  const ids = await embed(plain, [1, 2, 3, 4]);
  assert.equal(ids.usage.prompt_tokens, 4);
  const sdk = await client(plain).embeddings.create({ model: 'tiny-llama', input: 'through the SDK' });
  assert.equal(sdk.data[0].embedding.length, config.hidden_size);
});

test('/v1/embeddings refuses bad input by name', async () => {
  const cases = [
    [{ input: '' }, 400, 'input'],
    [{ input: [] }, 400, 'input'],
    [{ input: ['ok', 7] }, 400, 'input[1]'],
    [{}, 400, 'input'],
    [{ input: 'x', encoding_format: 'int8' }, 400, 'encoding_format'],
    [{ input: 'x', dimensions: 3 }, 400, 'dimensions'],
    [{ input: 'x', temperature: 0 }, 400, 'temperature'],
    [{ input: [99999999] }, 400, 'input[0]'],
    [{ input: 'word '.repeat(5000) }, 400, 'input'],
    [{ input: 'x', model: 'gpt-4' }, 404, 'model'],
  ];
  for (const [body, status, param] of cases) {
    const r = await plain.post('/v1/embeddings', body);
    assert.equal(r.status, status, `${JSON.stringify(body).slice(0, 80)}: ${r.text}`);
    assert.equal(r.json.error.param, param, r.text);
  }
  assert.equal((await plain.get('/health')).status, 200);
});

const completion = (prompt, extra = {}) => ({ model: 'tiny-llama', prompt, max_tokens: 10, temperature: 0, ...extra });

test('a near-duplicate above the threshold is answered from the cache with its similarity; below is not', async () => {
  const first = await semantic.post('/v1/completions', completion(A));
  assert.equal(first.headers.get('x-radixlm-cache'), 'miss');

  const near = await semantic.post('/v1/completions', completion(NEAR));
  assert.equal(near.status, 200, near.text);
  assert.equal(near.headers.get('x-radixlm-cache'), 'hit');
  const rc = near.json.usage.response_cache;
  assert.equal(rc.layer, 'semantic');
  // The similarity is the cosine of the two prompts' embeddings.
  const [ea, en, ef] = (await embed(plain, [A, NEAR, FAR])).data.map((d) => d.embedding);
  assert.ok(Math.abs(rc.similarity - dot(ea, en)) < 1e-4, `${rc.similarity} vs ${dot(ea, en)}`);
  assert.ok(rc.similarity >= THRESHOLD && rc.similarity < 1);
  assert.equal(Number(near.headers.get('x-radixlm-cache-similarity')).toFixed(4), rc.similarity.toFixed(4));
  assert.deepEqual(near.json.choices, first.json.choices);

  // Below the threshold: the model runs.
  assert.ok(dot(ea, ef) < THRESHOLD);
  const far = await semantic.post('/v1/completions', completion(FAR));
  assert.equal(far.headers.get('x-radixlm-cache'), 'miss');
  assert.notDeepEqual(far.json.choices[0].text, first.json.choices[0].text);

  const m = await semantic.metrics();
  assert.equal(m['radixlm:response_cache_hits_total{layer="semantic"}'], 1);
  assert.ok(m['radixlm:response_cache_misses_total{layer="semantic"}'] >= 2);
  assert.equal(m['radixlm:response_cache_hit_seconds_count{layer="semantic"}'], 1);
  assert.ok(m['radixlm:response_cache_semantic_entries'] >= 2);
});

test('only requests with the same sampling parameters and namespace match', async () => {
  const base = 'Semantic scope check: how long does it take to boil an egg in the mountains at altitude?';
  await semantic.post('/v1/completions', completion(base));
  const near = base.replace('egg', 'potato');
  for (const change of [{ max_tokens: 9 }, { temperature: 0.5, seed: 3 }, { stop: ['.'] }, { cache_salt: 'other' },
                        { logprobs: 1 }]) {
    const r = await semantic.post('/v1/completions', completion(near, change));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-radixlm-cache'), 'miss', JSON.stringify(change));
  }
  const same = await semantic.post('/v1/completions', completion(near));
  assert.equal(same.json.usage.response_cache.layer, 'semantic');
  // cache mode off: no semantic lookup either.
  const off = await semantic.post('/v1/completions', completion(near, { cache: { mode: 'off' } }));
  assert.equal(off.headers.get('x-radixlm-cache'), null);
});

test('chat: a reworded question hits as a valid stream; TTL and flush end it', async () => {
  const messages = (content) => [{ role: 'user', content }];
  const q = 'How do I reset my password on the company portal?';
  const first = await client(semantic).chat.completions.create({ model: 'tiny-llama', messages: messages(q),
                                                                 max_tokens: 8, temperature: 0 });
  let text = '';
  let usage = null;
  const stream = await client(semantic).chat.completions.create({
    model: 'tiny-llama', messages: messages(q.replace('portal', 'website')), max_tokens: 8, temperature: 0,
    stream: true, stream_options: { include_usage: true } });
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) text += c.delta.content ?? '';
  }
  assert.equal(text, first.choices[0].message.content);
  assert.equal(usage.response_cache.layer, 'semantic');
  assert.ok(usage.response_cache.similarity >= THRESHOLD);

  // TTL: the vector expires with its entry.
  const short = { model: 'tiny-llama', messages: messages('Tell me a joke about penguins wearing tall hats.'),
                  max_tokens: 6, temperature: 0, cache: { ttl: 1 } };
  await semantic.post('/v1/chat/completions', short);
  const reworded = { ...short, messages: messages('Tell me a joke about penguins wearing tiny hats.') };
  assert.equal((await semantic.post('/v1/chat/completions', reworded)).json.usage.response_cache.layer, 'semantic');
  await new Promise((r) => setTimeout(r, 1300));
  assert.equal((await semantic.post('/v1/chat/completions', reworded)).headers.get('x-radixlm-cache'), 'miss');

  // Flush by namespace: near-duplicates of the flushed tenant miss afterwards.
  const salted = (content) => ({ model: 'tiny-llama', messages: messages(content), max_tokens: 6, temperature: 0,
                                 cache_salt: 'flush-team' });
  await semantic.post('/v1/chat/completions', salted('Which trains leave the central station before nine?'));
  const nearSalted = salted('Which trains leave the central station before ten?');
  assert.equal((await semantic.post('/v1/chat/completions', nearSalted)).json.usage.response_cache.layer, 'semantic');
  const flushed = await semantic.post('/v1/cache/responses/flush', { cache_salt: 'flush-team' });
  assert.equal(flushed.status, 200, flushed.text);
  const after = await semantic.post('/v1/chat/completions', salted('Which trains leave the central station at ten?'));
  assert.equal(after.headers.get('x-radixlm-cache'), 'miss');
});

test('embeddings from another server; when it dies requests are still answered and errors counted', async () => {
  await remote.post('/v1/completions', completion(A));
  const hit = await remote.post('/v1/completions', completion(NEAR));
  assert.equal(hit.json.usage.response_cache.layer, 'semantic');
  const both = await embed(embedServer, [A, NEAR]);
  const [ea, en] = both.data.map((d) => d.embedding);
  assert.ok(Math.abs(hit.json.usage.response_cache.similarity - dot(ea, en)) < 1e-4);
  // The embeddings server embedded A and NEAR once for `remote` and once for us, and generated nothing.
  const served = await embedServer.metrics();
  assert.equal(served['radixlm:prompt_tokens_total'], 2 * both.usage.prompt_tokens);
  assert.equal(served['radixlm:generation_tokens_total'], 0);

  await embedServer.stop();
  for (let i = 0; i < 3; ++i) {
    const r = await remote.post('/v1/completions', completion(`${FAR} Number ${i}.`));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-radixlm-cache'), 'miss');
  }
  // The exact layer still answers.
  assert.equal((await remote.post('/v1/completions', completion(A))).json.usage.response_cache.layer, 'l1');
  const m = await remote.metrics();
  assert.ok(m['radixlm:response_cache_embed_errors_total'] >= 3);
  await eventually(() => /semantic cache: \d+ embedding error/.test(remote.output().stderr),
                   { what: 'the embedding errors to be logged' });
});
