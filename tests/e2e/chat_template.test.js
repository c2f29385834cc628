// Chat requests through a Jinja chat template (`serve --chat-template`): the
// prompt the server builds is exactly the reference Jinja2's text (Debian's
// python3-jinja2 through tests/template/jinja_reference.py), as the render
// command prints it and as usage.prompt_tokens counts it; tools, tool calls,
// chat_template_kwargs and raise_exception reach the template; multi-turn chats
// through the template hit the prefix cache.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { MODEL, startServer } = require('./server.js');

const RADIXLM = process.env.RADIXLM;

const REFERENCE = path.join(__dirname, '..', 'template', 'jinja_reference.py');
// RADIXLM_PYTHON: a python3 with jinja2 (on machines whose /usr/bin/python3 has none).
const PYTHON = process.env.RADIXLM_PYTHON || (fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');

// A Llama-3-style template written for this test, with tools, tool calls, an
// extra keyword and raise_exception.
const TEMPLATE = `{{- bos_token }}
{%- if tools %}
<|start_header_id|>system<|end_header_id|>\\n\\nTools:\\n
{%- for t in tools %}{{ t | tojson }}\\n{% endfor %}<|eot_id|>
{%- endif %}
{%- if messages[0].role == 'assistant' %}{{ raise_exception("The first message must not be the assistant's.") }}{% endif %}
{%- for m in messages %}
<|start_header_id|>{{ m.role }}<|end_header_id|>\\n\\n
{%- if m.tool_calls %}
{%- for c in m.tool_calls %}{"name": "{{ c.function.name }}", "arguments": {{ c.function.arguments | tojson }}}{% endfor %}
{%- else %}{{ m.content | trim }}{% endif %}<|eot_id|>
{%- endfor %}
{%- if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\\n\\n
{%- if enable_thinking is defined and not enable_thinking %}(no thinking) {% endif %}
{%- endif %}
`;

const TOOLS = [{ type: 'function', function: { name: 'get_weather', description: 'Weather in a city.',
                                                parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radixlm-chat-template-'));
const templateFile = path.join(dir, 'template.jinja');
fs.writeFileSync(templateFile, TEMPLATE);

function reference(conversation) {
  return execFileSync(PYTHON, [REFERENCE, 'render', '--template', templateFile, '--model-dir', MODEL],
                      { input: JSON.stringify(conversation), encoding: 'utf8' });
}

function renderCommand(conversation, flags) {
  const file = path.join(dir, 'messages.json');
  fs.writeFileSync(file, JSON.stringify(conversation));
  return execFileSync(RADIXLM, ['chat-template', 'render', '--model', MODEL, '--chat-template', templateFile,
                                '--messages', file, ...flags], { encoding: 'utf8' });
}

function tokenCount(text) {
  const ids = execFileSync(RADIXLM, ['tokenize', '--model', MODEL, '--text', text], { encoding: 'utf8' }).trim();
  return ids === '' ? 0 : ids.split(',').length;
}

test('chat through a Jinja chat template', async (t) => {
  const server = await startServer(['--chat-template', templateFile]);
  t.after(() => server.stop());
  const model = (await server.json('/v1/models')).data[0].id;

  const messages = [
    { role: 'system', content: '  You answer briefly.  ' },
    { role: 'user', content: [{ type: 'text', text: 'Weather in' }, { type: 'text', text: 'Paris?' }] },
    { role: 'assistant', content: null,
      tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris"}' } }] },
    { role: 'tool', tool_call_id: 'c1', content: '{"temperature": 21}' },
    { role: 'user', content: 'Thanks. And tomorrow? \u00e9\u4e16' },
  ];
  // What the server hands the template (vLLM's normalization): text parts
  // joined with "\n", null content as "", tool-call arguments parsed.
  const normalized = structuredClone(messages);
  normalized[1].content = 'Weather in\nParis?';
  normalized[2].content = '';
  normalized[2].tool_calls[0].function.arguments = { city: 'Paris' };

  await t.test('the render command prints the reference text', () => {
    const want = reference({ messages: normalized, tools: TOOLS, add_generation_prompt: true,
                             kwargs: { enable_thinking: false } });
    const got = renderCommand({ messages, tools: TOOLS, chat_template_kwargs: { enable_thinking: false } },
                              ['--add-generation-prompt']);
    assert.equal(got, want);
    assert.match(got, /"arguments": \{"city": "Paris"\}/);
    assert.match(got, /\(no thinking\) $/);
  });

  await t.test('served prompts are the reference text, token for token', async () => {
    for (const kwargs of [undefined, { enable_thinking: false }]) {
      const want = reference({ messages: normalized, tools: TOOLS, add_generation_prompt: true, kwargs: kwargs || {} });
      const body = { model, messages, tools: TOOLS, max_tokens: 1, temperature: 0 };
      if (kwargs) body.chat_template_kwargs = kwargs;
      const r = await server.post('/v1/chat/completions', body);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.usage.prompt_tokens, tokenCount(want), want);
    }
  });

  await t.test('continue_final_message leaves the reply open', async () => {
    const conv = [{ role: 'user', content: 'Count to three.' }, { role: 'assistant', content: 'One, two,' }];
    const want = reference({ messages: conv, continue_final_message: true, add_generation_prompt: false });
    assert.ok(want.endsWith('One, two,'), want);
    assert.equal(renderCommand(conv, ['--continue-final-message']), want);
    const r = await server.post('/v1/chat/completions', { model, messages: conv, max_tokens: 1,
                                                          add_generation_prompt: false, continue_final_message: true });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.usage.prompt_tokens, tokenCount(want));
  });

  await t.test('raise_exception is a 400 with the template\'s message', async () => {
    const r = await server.post('/v1/chat/completions', { model, messages: [{ role: 'assistant', content: 'x' }] });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.param, 'messages');
    assert.match(r.json.error.message, /The first message must not be the assistant's\./);
  });

  await t.test('a multi-turn chat through the template hits the cache', async () => {
    const chat = [{ role: 'system', content: 'Riddles only. '.repeat(6) }, { role: 'user', content: 'What is a cache?' }];
    const first = await server.post('/v1/chat/completions', { model, messages: chat, max_tokens: 4, temperature: 0 });
    assert.equal(first.status, 200, first.text);
    chat.push({ role: 'assistant', content: 'A memory.' }, { role: 'user', content: 'And then?' });
    const second = await server.post('/v1/chat/completions', { model, messages: chat, max_tokens: 4, temperature: 0 });
    assert.equal(second.status, 200, second.text);
    // The first prompt is a prefix of the second: all of it comes from the cache.
    assert.ok(second.json.usage.prompt_tokens_details.cached_tokens >= first.json.usage.prompt_tokens - 1,
              JSON.stringify([first.json.usage, second.json.usage]));
  });
});
