// Tool calls end to end with the official openai SDK: a multi-turn agent loop
// (user question -> the model calls a tool -> the tool's result -> the model
// answers -> the next question ...), non-streamed and streamed through the
// SDK's stream helper, for two template families (Qwen's <tool_call> blocks and
// Llama 3.1's JSON), each turn's prompt a prefix-cache hit on the previous
// turn's prompt and the model's own tool call.
//
// A random-weight model never writes a tool call by itself, so the test makes
// it: the model directory is the e2e model with a tokenizer.json that has a few
// more added tokens (ids below the model's vocabulary size), each one piece of
// a tool call's text, and every request forces its tokens in order through
// logit_bias with presence and frequency penalties (each emitted token drops 4
// below the next one, so greedy decoding walks the pieces in order; the random
// logits stay within +-0.5, the margins are 4/3). The model really samples the
// call's tokens, the server decodes them to text and parses the text: the same
// request without tools returns that text as plain content.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { MODEL, startServer, client } = require('./server.js');

const RADIXLM = process.env.RADIXLM;

const TEMPLATES = path.join(__dirname, 'templates');

// The pieces, in the order they are added to the tokenizer.
const PIECES = {
  imStart: { content: '<|im_start|>', special: true },
  imEnd: { content: '<|im_end|>', special: true },
  toolCall: { content: '<tool_call>', special: false },
  toolCallEnd: { content: '</tool_call>', special: false },
  qwenHead: { content: '<tool_call>\n{"name": "get_weather", "arguments": {', special: false },
  qwenTail: { content: '"city": "Paris"}}\n</tool_call>', special: false },
  llamaHead: { content: '{"name": "get_weather", "parameters": {', special: false },
  llamaTail: { content: '"city": "Paris"}}', special: false },
  answer: { content: 'It is 21 degrees and sunny in Paris.', special: false },
};

const TOOLS = [{
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city today.',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
}];

// The e2e model with the pieces as added tokens; returns their ids by name.
function makeModel() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radixlm-tool-calls-'));
  for (const f of ['config.json', 'model.safetensors']) fs.symlinkSync(path.join(MODEL, f), path.join(dir, f));
  fs.copyFileSync(path.join(MODEL, 'tokenizer_config.json'), path.join(dir, 'tokenizer_config.json'));
  const tokenizer = JSON.parse(fs.readFileSync(path.join(MODEL, 'tokenizer.json'), 'utf8'));
  const vocab = JSON.parse(fs.readFileSync(path.join(MODEL, 'config.json'), 'utf8')).vocab_size;
  let next = Math.max(...tokenizer.added_tokens.map((t) => t.id)) + 1;
  const ids = {};
  for (const [name, piece] of Object.entries(PIECES)) {
    ids[name] = next;
    tokenizer.added_tokens.push({ id: next++, content: piece.content, single_word: false, lstrip: false,
                                  rstrip: false, normalized: false, special: piece.special });
  }
  assert.ok(next <= vocab, 'the added tokens fit in the model vocabulary');
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  return { dir, ids };
}

// logit_bias forcing `tokens` in order (at most 3; see the header).
function force(tokens) {
  const bias = {};
  tokens.forEach((id, k) => { bias[id] = 100 - (4 / 3) * k; });
  return { logit_bias: bias, presence_penalty: 2, frequency_penalty: 2, temperature: 0, max_tokens: 8 };
}

const FAMILIES = [
  { name: 'qwen', template: 'qwen_tools.jinja', call: ['qwenHead', 'qwenTail', 'imEnd'], end: 'imEnd' },
  { name: 'llama3_json', template: 'llama_tools.jinja', call: ['llamaHead', 'llamaTail'], end: null },
];

for (const family of FAMILIES) {
  test(`agent loop with ${family.name} tool calls`, async (t) => {
    const { dir, ids } = makeModel();
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const server = await startServer(['--chat-template', path.join(TEMPLATES, family.template)], { model: dir });
    t.after(() => server.stop());
    assert.match(server.output().stdout + server.output().stderr, new RegExp(`tool calls: ${family.name}`));
    const openai = client(server);
    const model = (await server.json('/v1/models')).data[0].id;
    // Llama's template ends a turn with <|eot_id|>, already a special token of the e2e model.
    const eot = family.end ? ids[family.end] : 260;
    const callTokens = family.call.filter((n) => n !== 'imEnd').map((n) => ids[n]).concat([eot]);
    const answerTokens = [ids.answer, eot];
    const rawCall = family.call.filter((n) => n !== 'imEnd').map((n) => PIECES[n].content).join('');

    // The model writes the call's text: without tools (or with tool_choice
    // "none") the text comes back as content.
    const base = [{ role: 'system', content: 'You are a weather bot.' },
                  { role: 'user', content: 'What is the weather in Paris?' }];
    for (const extra of [{}, { tools: TOOLS, tool_choice: 'none' }]) {
      const plain = await openai.chat.completions.create({ model, messages: base, ...extra, ...force(callTokens) });
      assert.equal(plain.choices[0].message.content, rawCall);
      assert.equal(plain.choices[0].message.tool_calls, undefined);
      assert.equal(plain.choices[0].finish_reason, 'stop');
    }

    for (const stream of [false, true]) {
      const messages = structuredClone(base);
      let previous = null;  // the previous request's prompt and completion tokens
      const callIds = new Set();
      // Two rounds: question -> tool call -> result -> answer, then again.
      for (let round = 0; round < 2; ++round) {
        for (const step of ['call', 'answer']) {
          const params = { model, messages, tools: TOOLS,
                           ...force(step === 'call' ? callTokens : answerTokens) };
          let completion;
          let argumentDeltas = 0;
          if (stream) {
            const s = openai.chat.completions.stream({ ...params, stream_options: { include_usage: true } });
            s.on('tool_calls.function.arguments.delta', () => { ++argumentDeltas; });
            completion = await s.finalChatCompletion();
          } else {
            completion = await openai.chat.completions.create(params);
          }
          const where = `${stream ? 'streamed' : 'non-streamed'} round ${round} ${step}`;
          const choice = completion.choices[0];
          const usage = completion.usage;
          assert.ok(usage, `${where}: usage`);
          if (previous) {
            // The whole previous prompt and everything the model generated but
            // its last token (never computed) came from the cache.
            assert.ok(usage.prompt_tokens_details.cached_tokens >= previous.prompt + previous.completion - 1,
                      `${where}: cached ${usage.prompt_tokens_details.cached_tokens} < ` +
                      `${previous.prompt} + ${previous.completion} - 1`);
          }
          previous = { prompt: usage.prompt_tokens, completion: usage.completion_tokens };
          if (step === 'call') {
            assert.equal(choice.finish_reason, 'tool_calls', where);
            assert.equal(choice.message.content, null, where);
            assert.equal(choice.message.tool_calls.length, 1, where);
            const call = choice.message.tool_calls[0];
            assert.match(call.id, /^call_[0-9a-f]{24}$/, where);
            assert.ok(!callIds.has(call.id), `${where}: ids are unique`);
            callIds.add(call.id);
            assert.equal(call.type, 'function');
            assert.equal(call.function.name, 'get_weather');
            assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });
            assert.equal(usage.completion_tokens, callTokens.length, where);
            // (How many pieces depends on how many tokens each engine update
            // carried; tool_call_response_test checks every split.)
            if (stream) assert.ok(argumentDeltas >= 1, `${where}: arguments streamed`);
            // The agent runs the tool and sends the message back as the SDK gave it.
            messages.push(choice.message);
            messages.push({ role: 'tool', tool_call_id: call.id,
                            content: JSON.stringify({ temperature: 21, sky: 'sunny' }) });
          } else {
            assert.equal(choice.finish_reason, 'stop', where);
            assert.equal(choice.message.content, PIECES.answer.content, where);
            assert.ok(!choice.message.tool_calls, where);
            messages.push({ role: 'assistant', content: choice.message.content });
            messages.push({ role: 'user', content: 'And tomorrow?' });
          }
        }
      }
    }
  });
}

// tool_choice "required" or a named function: the grammar (constrained
// decoding) forces a call in the served family's own form, so the random model
// writes it unaided and the family's parser returns it as tool_calls.
for (const family of FAMILIES) {
  test(`forced ${family.name} tool calls come back as tool_calls`, async (t) => {
    const { dir } = makeModel();
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const server = await startServer(['--chat-template', path.join(TEMPLATES, family.template)], { model: dir });
    t.after(() => server.stop());
    const openai = client(server);
    const model = (await server.json('/v1/models')).data[0].id;
    const tools = [TOOLS[0], { type: 'function', function: { name: 'get_time', parameters: {
      type: 'object', properties: { zone: { type: 'string', enum: ['UTC', 'CET'] } }, required: ['zone'] } } }];
    for (const [choice, names] of [['required', ['get_weather', 'get_time']],
                                   [{ type: 'function', function: { name: 'get_time' } }, ['get_time']]]) {
      for (const seed of [1, 2, 3]) {
        const r = await openai.chat.completions.create({
          model, messages: [{ role: 'user', content: 'Weather or time?' }], tools, tool_choice: choice,
          temperature: 1, seed, max_tokens: 200,
        });
        const c = r.choices[0];
        assert.equal(c.finish_reason, 'tool_calls', JSON.stringify(c));
        assert.equal(c.message.tool_calls.length, 1);
        const call = c.message.tool_calls[0].function;
        assert.ok(names.includes(call.name), call.name);
        const args = JSON.parse(call.arguments);
        if (call.name === 'get_time') assert.ok(['UTC', 'CET'].includes(args.zone), call.arguments);
        else assert.equal(typeof args.city, 'string');
      }
    }
    // Streamed: the SDK's helper assembles the forced call from the deltas.
    const stream = openai.chat.completions.stream({
      model, messages: [{ role: 'user', content: 'Time?' }], tools,
      tool_choice: { type: 'function', function: { name: 'get_time' } }, temperature: 1, seed: 4, max_tokens: 200,
    });
    const done = await stream.finalChatCompletion();
    assert.equal(done.choices[0].finish_reason, 'tool_calls');
    assert.equal(done.choices[0].message.tool_calls[0].function.name, 'get_time');
  });
}

test('--tool-call-parser picks or refuses a parser', async (t) => {
  const { dir, ids } = makeModel();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  // none: the call stays text even with tools.
  const server = await startServer(['--chat-template', path.join(TEMPLATES, 'qwen_tools.jinja'),
                                    '--tool-call-parser', 'none'], { model: dir });
  t.after(() => server.stop());
  const model = (await server.json('/v1/models')).data[0].id;
  const ok = await client(server).chat.completions.create({
    model, messages: [{ role: 'user', content: 'Weather?' }], tools: TOOLS,
    ...force([ids.qwenHead, ids.qwenTail, ids.imEnd]),
  });
  assert.equal(ok.choices[0].message.content, PIECES.qwenHead.content + PIECES.qwenTail.content);
  assert.equal(ok.choices[0].finish_reason, 'stop');

  await assert.rejects(startServer(['--tool-call-parser', 'xml'], { model: dir }), /unknown tool-call parser 'xml'/);
});

// `radixlm chat-template check` runs the same round trip without a model: the
// tool turn's reply is the call as the family writes it, parsed by the server's
// parser, sent back as the API's message and rendered into the next prompt.
test('chat-template check: the tool round trip keeps the prefix', () => {
  const { dir } = makeModel();
  try {
    const check = (template) => JSON.parse(execFileSync(RADIXLM, ['chat-template', 'check', '--model', dir,
                                                                   '--chat-template', template, '--json'],
                                                        { encoding: 'utf8' }));
    for (const [file, format] of [['qwen_tools.jinja', 'qwen'], ['llama_tools.jinja', 'llama3_json']]) {
      const report = check(path.join(TEMPLATES, file));
      assert.equal(report.tool_turn, true, file);
      assert.equal(report.tool_call_format, format, file);
      assert.equal(report.tokens_lost, 0, file);
      assert.ok(report.turns.every((t) => t.prefix_kept), file);
    }
    // A template that writes calls back in another shape than the model's
    // loses the tool turn's tokens, and check says so.
    const broken = path.join(dir, 'broken.jinja');
    fs.writeFileSync(broken, fs.readFileSync(path.join(TEMPLATES, 'qwen_tools.jinja'), 'utf8')
      .replace('"arguments": \' +', '"parameters": \' +'));
    const report = check(broken);
    assert.equal(report.turns[1].prefix_kept, false);
    assert.ok(report.turns[1].lost_tokens > 0);
    assert.ok(report.turns.filter((t) => t.turn !== 2).every((t) => t.prefix_kept));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
