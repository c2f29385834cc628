// Prefix caching never changes what the model says: greedy outputs (token ids
// and log probabilities) are the same with the cache on, with --no-prefix-cache,
// alone, under concurrency, and on a KV pool so small that requests are
// preempted and resumed.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('./server.js');

const SYSTEM = 'System: you are a careful assistant who answers questions about caches. ';
const PROMPTS = [];
for (let i = 0; i < 8; ++i) PROMPTS.push(SYSTEM.repeat(2) + `Question ${i}: what happens to request ${i * 7}?`);

// Greedy, fixed length, token ids and logprobs back.
async function complete(server, prompt, maxTokens) {
  const r = await server.post('/v1/completions', {
    prompt, max_tokens: maxTokens, temperature: 0, ignore_eos: true, logprobs: 0, return_tokens_as_token_ids: true,
  });
  assert.equal(r.status, 200, r.text);
  const c = r.json.choices[0];
  assert.equal(c.finish_reason, 'length');
  return { tokens: c.logprobs.tokens, logprobs: c.logprobs.token_logprobs, text: c.text, usage: r.json.usage };
}

function assertSame(a, b, what) {
  assert.deepEqual(a.tokens, b.tokens, `${what}: tokens`);
  assert.deepEqual(a.logprobs, b.logprobs, `${what}: log probabilities`);
  assert.equal(a.text, b.text, `${what}: text`);
}

test('greedy outputs with and without the prefix cache', async () => {
  const cached = await startServer([]);
  const cold = await startServer(['--no-prefix-cache']);
  try {
    const reference = [];
    for (const p of PROMPTS) reference.push(await complete(cold, p, 12));
    assert.match(reference[0].tokens[0], /^token_id:\d+$/);
    // One at a time: the first computes the system prompt, the others reuse it.
    for (let i = 0; i < PROMPTS.length; ++i) {
      const r = await complete(cached, PROMPTS[i], 12);
      assertSame(r, reference[i], `sequential ${i}`);
      if (i > 0) assert.ok(r.usage.prompt_tokens_details.cached_tokens >= SYSTEM.length * 2, JSON.stringify(r.usage));
    }
    // Again, 8 at once, on both servers (the cold one batches them too).
    const both = await Promise.all([
      Promise.all(PROMPTS.map((p) => complete(cached, p, 12))),
      Promise.all(PROMPTS.map((p) => complete(cold, p, 12))),
    ]);
    for (let i = 0; i < PROMPTS.length; ++i) {
      assertSame(both[0][i], reference[i], `concurrent cached ${i}`);
      assertSame(both[1][i], reference[i], `concurrent cold ${i}`);
      assert.equal(both[1][i].usage.prompt_tokens_details.cached_tokens, 0);
      // The whole prompt but its last token was cached by the sequential pass.
      assert.equal(both[0][i].usage.prompt_tokens_details.cached_tokens, both[0][i].usage.prompt_tokens - 1);
    }
  } finally {
    assert.equal(await cached.stop(), 0);
    assert.equal(await cold.stop(), 0);
  }
});

test('a tiny KV pool preempts and still says the same', async () => {
  // 24 pages of 16 tokens: two ~170-token prompts (11 pages each) are admitted
  // together, and their 32 output tokens need 13 pages each: one is preempted.
  // The step limits are given: derived ones (a GPU's) would run one sequence
  // on a pool this small, and nothing would be preempted.
  const small = await startServer(
      ['--kv-pages', '24', '--page-size', '16', '--max-running', '8', '--token-budget', '512']);
  const big = await startServer(['--kv-pages', '4096', '--page-size', '16']);
  try {
    const prompts = [];
    for (let i = 0; i < 6; ++i)
      prompts.push(
          `Request ${i} `.repeat(2) + 'about memory pressure and paging. '.repeat(4) +
          'Thanks. '.repeat(2));
    const reference = [];
    for (const p of prompts) reference.push(await complete(big, p, 32));
    for (const r of reference)
      assert.ok(
          r.usage.prompt_tokens >= 160 && r.usage.prompt_tokens <= 176, r.usage.prompt_tokens);
    const results = await Promise.all(prompts.map((p) => complete(small, p, 32)));
    for (let i = 0; i < prompts.length; ++i)
      assertSame(results[i], reference[i], `small pool ${i}`);
    const m = await small.metrics();
    assert.ok(m['radixlm:num_preemptions_total'] > 0, `preemptions: ${m['radixlm:num_preemptions_total']}`);
    const stats = await small.json('/v1/cache/stats');
    assert.equal(stats.pages.total, 24);
    assert.equal(stats.pages.in_use + stats.pages.locked, 0);
  } finally {
    assert.equal(await small.stop(), 0);
    assert.equal(await big.stop(), 0);
  }
});
