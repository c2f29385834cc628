// Prompt log probabilities and best_of through the official OpenAI client.
// echo + logprobs + max_tokens 0 (what evaluation harnesses such as lm-eval
// send) scores every prompt token: each log probability and top alternative is
// log-softmax of `radixlm forward`'s logits at the position before, with the
// prefix cold and again once the prompt is cached (the server computes it
// anyway: the same answer, cached_tokens 0); streamed, the first chunk carries
// the prompt and its log probabilities. best_of returns the sample with the
// best mean log probability per token among those n = best_of gives for the
// same seed, and is refused with stream.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { startServer, client, MODEL, DEVICE } = require('./server.js');

const PROMPT = 'Scores of every prompt token, cached or not: the radix tree holds K and V, not logits.';
// The server and `forward` run the same backend; on the GPU (BF16) the two
// cut the work differently, so their logits differ in the last bits.
const TOLERANCE = DEVICE === 'cpu' ? 1e-4 : 5e-2;

// log-softmax rows of `radixlm forward` over `ids`: [ids.length][vocab].
function forwardLogprobs(ids) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radixlm-forward-'));
  const out = path.join(dir, 'logits.f32');
  try {
    execFileSync(process.env.RADIXLM, ['forward', '--model', MODEL, '--tokens', ids.join(','), '--out', out,
                                       '--threads', '1', '--device', DEVICE]);
    const bytes = fs.readFileSync(out);
    const logits = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
    const vocab = logits.length / ids.length;
    assert.ok(Number.isInteger(vocab), `${logits.length} logits for ${ids.length} tokens`);
    const rows = [];
    for (let i = 0; i < ids.length; ++i) {
      const row = logits.subarray(i * vocab, (i + 1) * vocab);
      let max = -Infinity;
      for (const l of row) max = Math.max(max, l);
      let sum = 0;
      for (const l of row) sum += Math.exp(l - max);
      const logZ = max + Math.log(sum);
      rows.push(Array.from(row, (l) => l - logZ));
    }
    return rows;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const tokenId = (name) => {
  const m = /^token_id:(\d+)$/.exec(name);
  assert.ok(m, `token ${name} is not token_id:N`);
  return Number(m[1]);
};

// A choice's logprobs against the reference rows: the prompt's tokens first,
// the very first with null figures, then each scored by the row before it.
function checkPromptLogprobs(logprobs, ids, reference, k) {
  assert.equal(logprobs.tokens.length, ids.length);
  assert.deepEqual(logprobs.tokens.map(tokenId), ids);
  assert.equal(logprobs.token_logprobs[0], null);
  assert.equal(logprobs.top_logprobs[0], null);
  for (let i = 1; i < ids.length; ++i) {
    const row = reference[i - 1];
    const got = logprobs.token_logprobs[i];
    assert.ok(Math.abs(got - row[ids[i]]) <= TOLERANCE, `token ${i}: ${got} vs ${row[ids[i]]}`);
    const top = Object.entries(logprobs.top_logprobs[i]);
    assert.equal(top.length, k, `token ${i}: ${JSON.stringify(logprobs.top_logprobs[i])}`);
    // The k most likely, as the reference ranks them (ties at the cut may swap).
    const kth = [...row].sort((a, b) => b - a)[k - 1];
    for (const [name, lp] of top) {
      const want = row[tokenId(name)];
      assert.ok(Math.abs(lp - want) <= TOLERANCE, `token ${i}, alternative ${name}: ${lp} vs ${want}`);
      assert.ok(want >= kth - TOLERANCE, `token ${i}: ${name} is not among the ${k} most likely`);
    }
  }
}

test('prompt logprobs and best_of', async (t) => {
  const server = await startServer([]);
  const openai = client(server);
  const model = (await openai.models.list()).data[0].id;
  try {
    const tokenized = await server.post('/tokenize', { prompt: PROMPT });
    assert.equal(tokenized.status, 200, tokenized.text);
    const ids = tokenized.json.tokens;
    const reference = forwardLogprobs(ids);
    const score = () => openai.completions.create({
      model, prompt: PROMPT, max_tokens: 0, echo: true, logprobs: 3, temperature: 0,
      return_tokens_as_token_ids: true,
    });

    await t.test('echo + logprobs + max_tokens 0, cold then cached', async () => {
      const cold = await score();
      const c = cold.choices[0];
      assert.equal(c.text, PROMPT);
      assert.equal(c.finish_reason, 'length');
      assert.equal(cold.usage.prompt_tokens, ids.length);
      assert.equal(cold.usage.completion_tokens, 0);
      assert.equal(cold.usage.prompt_tokens_details.cached_tokens, 0);
      checkPromptLogprobs(c.logprobs, ids, reference, 3);
      // The text offsets end where the prompt text does (BOS, which the text lacks, at 0).
      assert.equal(c.logprobs.text_offset.length, ids.length);
      assert.equal(c.logprobs.text_offset[0], 0);
      assert.equal(c.logprobs.text_offset[ids.length - 1], PROMPT.length - 1);

      // The prompt is cached now (a plain request hits all of it but its last token)...
      const plain = await openai.completions.create({ model, prompt: PROMPT, max_tokens: 1, temperature: 0 });
      assert.equal(plain.usage.prompt_tokens_details.cached_tokens, ids.length - 1);
      // ...and scoring it again computes it anyway: the same answer.
      const warm = await score();
      assert.equal(warm.usage.prompt_tokens_details.cached_tokens, 0);
      assert.deepEqual(warm.choices[0].logprobs, c.logprobs);
      assert.equal(warm.choices[0].text, PROMPT);
    });

    await t.test('echo + logprobs with a completion, streamed and not', async () => {
      const whole = await openai.completions.create({
        model, prompt: PROMPT, max_tokens: 4, echo: true, logprobs: 1, temperature: 0, ignore_eos: true,
        return_tokens_as_token_ids: true,
      });
      const c = whole.choices[0];
      assert.ok(c.text.startsWith(PROMPT));
      assert.equal(c.logprobs.tokens.length, ids.length + 4);
      const promptPart = {
        tokens: c.logprobs.tokens.slice(0, ids.length),
        token_logprobs: c.logprobs.token_logprobs.slice(0, ids.length),
        top_logprobs: c.logprobs.top_logprobs.slice(0, ids.length),
      };
      checkPromptLogprobs(promptPart, ids, reference, 1);
      // The generated tokens' offsets follow the echoed prompt.
      assert.equal(c.logprobs.text_offset[ids.length], PROMPT.length);

      const stream = await openai.completions.create({
        model, prompt: PROMPT, max_tokens: 4, echo: true, logprobs: 1, temperature: 0, ignore_eos: true,
        return_tokens_as_token_ids: true, stream: true,
      });
      const chunks = [];
      for await (const chunk of stream) chunks.push(chunk);
      const first = chunks[0].choices[0];
      assert.equal(first.text, PROMPT);
      assert.equal(first.logprobs.tokens.length, ids.length);
      assert.deepEqual(first.logprobs.token_logprobs, promptPart.token_logprobs);
      assert.deepEqual(first.logprobs.top_logprobs, promptPart.top_logprobs);
      const text = chunks.map((k) => k.choices[0]?.text ?? '').join('');
      assert.equal(text, c.text);
      const generated = chunks.slice(1).flatMap((k) => k.choices[0]?.logprobs?.token_logprobs ?? []);
      assert.deepEqual(generated, c.logprobs.token_logprobs.slice(ids.length));
    });

    await t.test('best_of returns the best mean log probability', async () => {
      const params = { model, prompt: 'Once upon a time', max_tokens: 8, temperature: 1, seed: 1234 };
      const all = await openai.completions.create({ ...params, n: 3, logprobs: 0 });
      assert.equal(all.choices.length, 3);
      const means = all.choices.map((c) => {
        const lps = c.logprobs.token_logprobs;
        return lps.reduce((a, b) => a + b, 0) / lps.length;
      });
      let best = 0;
      for (let i = 1; i < 3; ++i) if (means[i] > means[best]) best = i;
      const texts = new Set(all.choices.map((c) => c.text));
      assert.ok(texts.size > 1, 'the three samples differ (else the test shows nothing)');

      const chosen = await openai.completions.create({ ...params, n: 1, best_of: 3 });
      assert.equal(chosen.choices.length, 1);
      assert.equal(chosen.choices[0].index, 0);
      assert.equal(chosen.choices[0].text, all.choices[best].text);
      assert.equal(chosen.choices[0].logprobs, null);  // not asked for
      // Every sample's tokens are generated (and billed).
      assert.equal(chosen.usage.completion_tokens, all.usage.completion_tokens);
      // Deterministic with the seed, and with logprobs the chosen one's own.
      const again = await openai.completions.create({ ...params, n: 1, best_of: 3, logprobs: 0 });
      assert.equal(again.choices[0].text, chosen.choices[0].text);
      assert.deepEqual(again.choices[0].logprobs.token_logprobs, all.choices[best].logprobs.token_logprobs);
      // n 2 of best_of 3: the two best, best first.
      const order = [0, 1, 2].sort((a, b) => means[b] - means[a] || a - b);
      const two = await openai.completions.create({ ...params, n: 2, best_of: 3 });
      assert.deepEqual(two.choices.map((c) => c.text), order.slice(0, 2).map((i) => all.choices[i].text));
      assert.deepEqual(two.choices.map((c) => c.index), [0, 1]);
    });

    await t.test('best_of with stream, and bad asks, are refused', async () => {
      await assert.rejects(
        openai.completions.create({ model, prompt: 'x', max_tokens: 4, best_of: 3, n: 1, stream: true }),
        (e) => e.status === 400 && e.param === 'best_of' && /cannot be streamed/.test(e.message));
      await assert.rejects(
        openai.completions.create({ model, prompt: 'x', max_tokens: 0 }),
        (e) => e.status === 400 && e.param === 'max_tokens');
      await assert.rejects(
        openai.completions.create({ model, prompt: 'x', max_tokens: 4, best_of: 2, n: 3 }),
        (e) => e.status === 400 && e.param === 'best_of');
    });
  } finally {
    assert.equal(await server.stop(), 0);
  }
});
