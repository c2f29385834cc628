// Bad requests get the right 4xx and an OpenAI error body, and the server keeps
// serving; a client that leaves mid-stream has its request cancelled and its
// pages freed; SIGTERM finishes or aborts what runs and exits 0.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer, client, eventually } = require('./server.js');

function assertError(r, status, param, pattern) {
  assert.equal(r.status, status, r.text);
  assert.ok(r.json && r.json.error, `an OpenAI error body: ${r.text}`);
  const e = r.json.error;
  assert.equal(typeof e.message, 'string');
  assert.equal(typeof e.type, 'string');
  assert.equal(e.param, param, r.text);
  assert.ok('code' in e);
  if (pattern) assert.match(e.message, pattern);
  if (status === 400) assert.equal(e.type, 'invalid_request_error');
}

test('errors', async (t) => {
  const server = await startServer(['--max-body-bytes', '65536', '--served-model-name', 'tiny']);
  const ok = async () => {
    const r = await server.post('/v1/completions', { prompt: 'still serving?', max_tokens: 2 });
    assert.equal(r.status, 200, r.text);
  };
  try {
    await t.test('bad completions', async () => {
      const cases = [
        ['{"prompt": "x",', 400, null, /not valid JSON/],
        ['"just a string"', 400, null, /must be a JSON object/],
        [{ prompt: 'x', max_tokens: 'ten' }, 400, 'max_tokens', /expected an integer, but got a string/],
        [{ prompt: 'x', temperature: 'hot' }, 400, 'temperature', /expected a number/],
        [{ prompt: 'x', stop: 5 }, 400, 'stop', /string or an array of strings/],
        [{ prompt: 'x', foo: 1 }, 400, 'foo', /^Unrecognized request argument supplied: foo$/],
        [{ prompt: '' }, 400, 'prompt', /empty/],
        [{ prompt: [] }, 400, 'prompt', /empty/],
        [{}, 400, 'prompt', /Missing required parameter/],
        [{ prompt: 'x'.repeat(3000) }, 400, 'prompt', /maximum context length is 2048 tokens. However, you requested 3017 tokens \(3001 in the prompt, 16 in the completion\)/],
        [{ prompt: 'x', max_tokens: -1 }, 400, 'max_tokens', />= 1/],
        [{ prompt: 'x', max_tokens: 0 }, 400, 'max_tokens', />= 1 \(0 only with echo\)/],
        [{ prompt: 'x', max_tokens: 1e12 }, 400, 'max_tokens', /maximum context length/],
        [{ prompt: 'x', max_tokens: 1e300 }, 400, 'max_tokens', /out of range/],
        [{ prompt: 'x', temperature: 2.5 }, 400, 'temperature', /\[0, 2\]/],
        [{ prompt: 'x', temperature: -1 }, 400, 'temperature', /\[0, 2\]/],
        [{ prompt: 'x', top_p: 0 }, 400, 'top_p', /\(0, 1\]/],
        [{ prompt: 'x', n: 100 }, 400, 'n', /\[1, 16\]/],
        [{ prompt: 'x', logprobs: 50 }, 400, 'logprobs', /\[0, 20\]/],
        [{ prompt: [1, 2, 320] }, 400, 'prompt[2]', /outside the vocabulary \[0, 320\)/],
        [{ prompt: [1, -2] }, 400, 'prompt[1]', /outside the vocabulary/],
        [{ prompt: [[1], [2, 1000000]] }, 400, 'prompt[1][1]', /outside the vocabulary/],
        [{ prompt: 'x', stop_token_ids: [999] }, 400, 'stop_token_ids[0]', /outside the vocabulary/],
        [{ prompt: 'x', logit_bias: { 12345: 1 } }, 400, 'logit_bias.12345', /not a token id/],
        [{ prompt: 'x', best_of: 17 }, 400, 'best_of', /\[1, 16\]/],
        [{ prompt: 'x', n: 3, best_of: 2 }, 400, 'best_of', /at least n/],
        [{ prompt: 'x', best_of: 2, stream: true }, 400, 'best_of', /cannot be streamed/],
        [{ prompt: 'x', max_tokens: 0, echo: true, n: 2 }, 400, 'n', /must be 1/],
        [{ prompt: 'x', suffix: 'end' }, 400, 'suffix', /not supported/],
        [{ prompt: 'x', stream_options: { include_usage: true } }, 400, 'stream_options', /stream/],
        [{ prompt: 'x', model: 'gpt-4o' }, 404, 'model', /does not exist/],
      ];
      for (const [body, status, param, pattern] of cases) {
        const r = await server.post('/v1/completions', body);
        assertError(r, status, param, pattern);
        if (status === 404) assert.equal(r.json.error.code, 'model_not_found');
      }
      await ok();
    });

    await t.test('bad chat requests', async () => {
      const user = [{ role: 'user', content: 'hi' }];
      const cases = [
        [{ messages: {} }, 'messages', /expected an array, but got an object/],
        [{ messages: [] }, 'messages', /at least one/],
        [{ messages: [{ role: 'robot', content: 'x' }] }, 'messages[0].role', /not one of/],
        [{ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] },
         'messages[0].content[0].type', /not supported/],
        [{ messages: user, tools: [{ type: 'function', function: { name: 'f' } }] }, 'tools',
         /tools need the model's chat template, not supported yet/],
        [{ messages: user, response_format: { type: 'xml' } }, 'response_format.type', /Supported values are/],
        [{ messages: user, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'string', pattern: 'a+' } } } },
         'response_format.json_schema.schema', /at #: 'pattern' is not supported/],
        [{ messages: user, tool_choice: 'required' }, 'tool_choice', /only allowed when 'tools' are specified/],
        [{ messages: user, top_logprobs: 3 }, 'top_logprobs', /logprobs/],
        [{ messages: user, logprobs: true, top_logprobs: 21 }, 'top_logprobs', /\[0, 20\]/],
        [{ messages: user, max_completion_tokens: 5000 }, 'max_tokens', /maximum context length is 2048/],
        [{ messages: [{ role: 'user', content: 'x'.repeat(2100) }] }, 'messages', /in the messages/],
      ];
      for (const [body, param, pattern] of cases) {
        assertError(await server.post('/v1/chat/completions', body), 400, param, pattern);
      }
      await ok();
    });

    await t.test('the openai client surfaces them as APIError', async () => {
      const openai = client(server);
      await assert.rejects(openai.completions.create({ model: 'tiny', prompt: 'x', temperature: 5 }),
                           (e) => e.status === 400 && e.param === 'temperature' && e.type === 'invalid_request_error');
      await assert.rejects(openai.completions.create({ model: 'nope', prompt: 'x' }),
                           (e) => e.status === 404 && e.code === 'model_not_found');
    });

    await t.test('routes, methods and body size', async () => {
      assertError(await server.post('/v1/nothing', {}), 404, null, /Invalid URL \(POST \/v1\/nothing\)/);
      const wrong = await server.get('/v1/completions');
      assertError({ ...wrong, json: JSON.parse(wrong.text) }, 405, null, /not allowed/);
      assert.equal(wrong.headers.get('allow'), 'POST');
      const big = await server.post('/v1/completions', { prompt: 'x'.repeat(100000) });
      assertError(big, 413, null, /larger than the server's limit of 65536 bytes/);
      await ok();
      const health = await server.get('/health');
      assert.equal(health.status, 200);
      assert.deepEqual(JSON.parse(health.text), { status: 'ok' });
    });

    await t.test('client disconnect mid-stream cancels the request', async () => {
      const before = await server.metrics();
      const controller = new AbortController();
      const res = await fetch(server.url + '/v1/completions', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ prompt: 'Go on forever', max_tokens: 2000, ignore_eos: true, stream: true }),
        signal: controller.signal,
      });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type'), /^text\/event-stream/);
      assert.equal(res.headers.get('cache-control'), 'no-cache');
      const reader = res.body.getReader();
      await reader.read();  // the first chunk
      controller.abort();
      const key = 'radixlm:request_success_total{finished_reason="abort"}';
      await eventually(async () => (await server.metrics())[key] === before[key] + 1, { what: 'an aborted request' });
      const stats = await eventually(async () => {
        const s = await server.json('/v1/cache/stats');
        return s.requests.running === 0 && s.pages.in_use === 0 && s.pages.locked === 0 ? s : null;
      }, { what: 'no pages in use' });
      assert.equal(stats.pages.free + stats.pages.cached, stats.pages.total);
      // Fewer tokens than asked: it really stopped early.
      const after = await server.metrics();
      assert.ok(after['radixlm:generation_tokens_total'] - before['radixlm:generation_tokens_total'] < 2000);
      await ok();
    });

    await t.test('SIGTERM mid-stream', async () => {
      // A second server: SIGTERM while a stream runs ends it (abort or
      // finished) with [DONE], and the process exits 0.
      const other = await startServer(['--shutdown-grace', '0']);
      const res = await fetch(other.url + '/v1/completions', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ prompt: 'Long', max_tokens: 2000, ignore_eos: true, stream: true }),
      });
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let text = decoder.decode((await reader.read()).value);
      const code = other.stop();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value);
      }
      assert.equal(await code, 0);
      assert.ok(text.endsWith('data: [DONE]\n\n'), text.slice(-200));
      const events = text.split('\n\n').filter((e) => e.startsWith('data: {'));
      const last = JSON.parse(events[events.length - 1].slice(6));
      assert.ok(['abort', 'length'].includes(last.choices[0].finish_reason), JSON.stringify(last));
      assert.match(other.output().stdout, /shutting down \(SIGTERM\)/);
    });
  } finally {
    assert.equal(await server.stop(), 0);
  }
});
