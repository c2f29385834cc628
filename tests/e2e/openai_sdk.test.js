// The official OpenAI client drives completions and chat, streaming and not;
// usage (with cached tokens) is on every response; the prefix cache shows in
// cached_tokens; /metrics and /v1/cache/stats agree with the responses.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer, client } = require('./server.js');

const LONG = 'The radix tree keeps every prompt it has seen, so a request that repeats a prefix ' +
             'skips its prefill. '.repeat(3);

test('openai sdk', async (t) => {
  const server = await startServer(['--page-size', '16']);
  const openai = client(server);
  const model = (await openai.models.list()).data[0].id;
  // requests: engine requests (a call with several prompts makes one per prompt).
  const totals = { prompt: 0, cached: 0, completion: 0, requests: 0 };
  const count = (usage, prompts = 1) => {
    assert.ok(usage, 'usage present');
    assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
    assert.equal(typeof usage.prompt_tokens_details.cached_tokens, 'number');
    totals.prompt += usage.prompt_tokens;
    totals.cached += usage.prompt_tokens_details.cached_tokens;
    totals.completion += usage.completion_tokens;
    totals.requests += prompts;
  };

  try {
    await t.test('models', async () => {
      const list = await openai.models.list();
      assert.equal(list.data.length, 1);
      assert.equal(list.data[0].object, 'model');
      assert.equal(list.data[0].owned_by, 'radixlm');
      assert.equal(list.data[0].max_model_len, 2048);
    });

    await t.test('completion', async () => {
      const r = await openai.completions.create({ model, prompt: 'Hello', max_tokens: 5, temperature: 0 });
      assert.match(r.id, /^cmpl-[0-9a-f]{32}$/);
      assert.equal(r.object, 'text_completion');
      assert.equal(r.model, model);
      assert.equal(r.choices.length, 1);
      assert.equal(typeof r.choices[0].text, 'string');
      assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
      assert.equal(r.choices[0].logprobs, null);
      assert.equal(r.usage.prompt_tokens, 6);  // BOS + 5 bytes
      count(r.usage);
    });

    await t.test('completion with n, several prompts, logprobs and echo', async () => {
      const r = await openai.completions.create({
        model, prompt: ['ab', 'cd'], n: 2, max_tokens: 3, temperature: 0.8, seed: 7, logprobs: 2,
        ignore_eos: true,
      });
      assert.equal(r.choices.length, 4);
      assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2, 3]);
      for (const c of r.choices) {
        assert.equal(c.finish_reason, 'length');
        assert.equal(c.logprobs.tokens.length, 3);
        assert.equal(c.logprobs.token_logprobs.length, 3);
        assert.equal(c.logprobs.top_logprobs.length, 3);
        assert.equal(c.logprobs.text_offset.length, 3);
        for (const lp of c.logprobs.token_logprobs) assert.ok(lp <= 0);
      }
      assert.equal(r.usage.completion_tokens, 12);
      count(r.usage, 2);
      // Same seed, same samples.
      const again = await openai.completions.create({
        model, prompt: ['ab', 'cd'], n: 2, max_tokens: 3, temperature: 0.8, seed: 7, logprobs: 2, ignore_eos: true,
      });
      assert.deepEqual(again.choices.map((c) => c.logprobs.tokens), r.choices.map((c) => c.logprobs.tokens));
      count(again.usage, 2);
      const echo = await openai.completions.create({ model, prompt: 'Echo me', max_tokens: 2, echo: true });
      assert.ok(echo.choices[0].text.startsWith('Echo me'));
      count(echo.usage);
    });

    await t.test('token prompts', async () => {
      const r = await openai.completions.create({ model, prompt: [256, 72, 105], max_tokens: 2, temperature: 0 });
      assert.equal(r.usage.prompt_tokens, 3);
      count(r.usage);
    });

    await t.test('chat', async () => {
      const r = await openai.chat.completions.create({
        model, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi!' }],
        max_tokens: 4, temperature: 0, logprobs: true, top_logprobs: 3,
      });
      assert.match(r.id, /^chatcmpl-[0-9a-f]{32}$/);
      assert.equal(r.object, 'chat.completion');
      assert.equal(r.choices[0].message.role, 'assistant');
      assert.equal(typeof r.choices[0].message.content, 'string');
      const content = r.choices[0].logprobs.content;
      assert.ok(content.length >= 1 && content.length <= 4);
      for (const e of content) {
        assert.equal(typeof e.token, 'string');
        assert.ok(Array.isArray(e.bytes));
        assert.equal(e.top_logprobs.length, 3);
        // Greedy: the chosen token is the most likely.
        assert.equal(e.logprob, e.top_logprobs[0].logprob);
      }
      count(r.usage);
    });

    await t.test('streaming completion with usage', async () => {
      const stream = await openai.completions.create({
        model, prompt: 'Stream this', max_tokens: 6, temperature: 0, ignore_eos: true, stream: true,
        stream_options: { include_usage: true },
      });
      let text = '';
      let finish = null;
      let usage = null;
      for await (const chunk of stream) {
        assert.equal(chunk.object, 'text_completion');
        if (chunk.usage) {
          assert.equal(chunk.choices.length, 0);
          usage = chunk.usage;
          continue;
        }
        text += chunk.choices[0].text;
        if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
      }
      assert.equal(finish, 'length');
      assert.equal(usage.completion_tokens, 6);
      count(usage);
      // The same request without streaming says the same.
      const whole = await openai.completions.create({
        model, prompt: 'Stream this', max_tokens: 6, temperature: 0, ignore_eos: true,
      });
      assert.equal(whole.choices[0].text, text);
      count(whole.usage);
    });

    await t.test('streaming chat with usage', async () => {
      const stream = await openai.chat.completions.create({
        model, messages: [{ role: 'user', content: 'Tell me' }], max_tokens: 5, temperature: 0, stream: true,
        stream_options: { include_usage: true },
      });
      const chunks = [];
      for await (const chunk of stream) chunks.push(chunk);
      assert.equal(chunks[0].choices[0].delta.role, 'assistant');
      assert.equal(chunks[0].choices[0].delta.content, '');
      const last = chunks[chunks.length - 1];
      assert.equal(last.choices.length, 0);
      assert.ok(last.usage.completion_tokens >= 1);
      const final = chunks[chunks.length - 2];
      assert.deepEqual(final.choices[0].delta, {});
      assert.ok(['stop', 'length'].includes(final.choices[0].finish_reason));
      for (const c of chunks) assert.equal(c.object, 'chat.completion.chunk');
      count(last.usage);
    });

    await t.test('the same long prompt twice: all but its last token from the cache', async () => {
      const first = await openai.completions.create({ model, prompt: LONG, max_tokens: 4, temperature: 0 });
      count(first.usage);
      const n = first.usage.prompt_tokens;
      assert.equal(n, LONG.length + 1);
      const second = await openai.completions.create({ model, prompt: LONG, max_tokens: 4, temperature: 0 });
      count(second.usage);
      // Token-exact radix tree: every prompt token but the last, which is
      // recomputed for its logits.
      assert.equal(second.usage.prompt_tokens_details.cached_tokens, n - 1);
      assert.equal(second.choices[0].text, first.choices[0].text);
    });

    await t.test('concurrent requests sharing a long prefix', async () => {
      const shared = 'Shared document: ' + 'all requests read the same long context before their question. '.repeat(3);
      // Warm the prefix, then 8 at once with different questions.
      count((await openai.completions.create({ model, prompt: shared + '#warm', max_tokens: 2 })).usage);
      const questions = 'ABCDEFGH'.split('').map((c) => `${c}? Question ${c}.`);
      const results = await Promise.all(questions.map((q) =>
        openai.completions.create({ model, prompt: shared + q, max_tokens: 8, temperature: 0, ignore_eos: true })));
      for (const r of results) {
        count(r.usage);
        assert.equal(r.choices[0].finish_reason, 'length');
        assert.equal(r.usage.completion_tokens, 8);
        assert.equal(r.usage.prompt_tokens_details.cached_tokens, shared.length + 1);  // BOS + the shared text
      }
    });

    await t.test('multi-turn chat hits the cache', async () => {
      const messages = [{ role: 'system', content: 'You answer in riddles. '.repeat(4) },
                        { role: 'user', content: 'What is a cache?' }];
      const first = await openai.chat.completions.create({ model, messages, max_tokens: 6, temperature: 0 });
      count(first.usage);
      messages.push({ role: 'assistant', content: first.choices[0].message.content });
      messages.push({ role: 'user', content: 'And then?' });
      const second = await openai.chat.completions.create({ model, messages, max_tokens: 6, temperature: 0 });
      count(second.usage);
      // At least the whole first prompt is reused.
      assert.ok(second.usage.prompt_tokens_details.cached_tokens >= first.usage.prompt_tokens,
                JSON.stringify([first.usage, second.usage]));
    });

    await t.test('metrics and cache stats agree with the responses', async () => {
      const m = await server.metrics();
      const stats = await server.json('/v1/cache/stats');
      assert.equal(m['radixlm:prompt_tokens_total'], totals.prompt);
      assert.equal(m['radixlm:prompt_tokens_cached_total'], totals.cached);
      assert.equal(m['radixlm:generation_tokens_total'], totals.completion);
      assert.equal(stats.requests.prompt_tokens, totals.prompt);
      assert.equal(stats.requests.cached_prompt_tokens, totals.cached);
      const finished = ['stop', 'length', 'abort', 'error']
        .map((r) => m[`radixlm:request_success_total{finished_reason="${r}"}`])
        .reduce((a, b) => a + b, 0);
      assert.equal(finished, totals.requests);
      assert.equal(m['radixlm:prefix_cache_hits_total'], stats.cache.match_tokens_hit);
      assert.equal(m['radixlm:prefix_cache_queries_total'], stats.cache.match_tokens);
      assert.ok(Math.abs(m['radixlm:prefix_cache_hit_rate'] - stats.hit_rate) < 1e-12);
      const pages = ['free', 'cached', 'locked', 'in_use'].map((s) => m[`radixlm:cache_pages{state="${s}"}`]);
      assert.equal(pages.reduce((a, b) => a + b, 0), stats.pages.total);
      assert.equal(stats.pages.in_use, 0);
      assert.equal(stats.pages.locked, 0);
      assert.equal(m['radixlm:e2e_request_latency_seconds_count'], totals.requests);
      assert.ok(m['radixlm:http_requests_total{code="200"}'] >= totals.requests);
      assert.equal(m['radixlm:num_requests_running'], 0);
    });
  } finally {
    assert.equal(await server.stop(), 0);
  }
});
