// Constrained decoding through the official OpenAI client: random nested JSON
// schemas (response_format json_schema, strict) against a random-weight model
// must all come back as JSON that ajv validates against their schema; JSON
// mode returns objects; streamed outputs are the same value; a forced tool
// call (tool_choice "required" or a named function) is a call of the tools
// with valid arguments; schemas the grammar cannot enforce are 400s naming
// the field; and unconstrained requests running beside constrained ones get
// the tokens they get alone.
//
// RADIXLM_SCHEMA_COUNT sets how many random schemas (CI: 100; the figure in
// docs/BENCHMARKS.md is 1,000: scripts/structured_outputs.sh).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const Ajv = require('ajv');
const { startServer, client } = require('./server.js');

const COUNT = Number(process.env.RADIXLM_SCHEMA_COUNT || 100);
const CONCURRENCY = 16;
const MAX_TOKENS = 600;

// mulberry32: a seeded stream, so a failing schema can be regenerated.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ['alpha', 'beta', 'x', 'a"quote', 'back\\slash', 'café', '日本', 'new\nline', 'tab\tbed', 'Zoë',
               'snake_case', 'CamelCase', 'with space', '', '🙂'];

// A random schema of the subset the grammar enforces (grammar/schema_compiler.h):
// objects (required and optional properties, additionalProperties false),
// arrays with bounds, scalars, enums and consts of any JSON, anyOf, type
// lists, and $defs / $ref (sometimes recursive).
function randomSchema(seed) {
  const r = rng(seed);
  const pick = (list) => list[Math.floor(r() * list.length)];
  const int = (lo, hi) => lo + Math.floor(r() * (hi - lo + 1));
  const defs = {};
  const scalar = () => {
    switch (int(0, 7)) {
      case 0: return { type: 'string' };
      case 1: return { type: 'integer' };
      case 2: return { type: 'number' };
      case 3: return { type: 'boolean' };
      case 4: return { type: 'null' };
      case 5: {  // distinct values, as JSON Schema wants
        const values = Array.from({ length: int(1, 4) }, () => pick([pick(WORDS), int(-50, 50), 2.5, null, true]));
        return { enum: values.filter((v, i) => values.findIndex((w) => JSON.stringify(w) === JSON.stringify(v)) === i) };
      }
      case 6: return { const: pick([pick(WORDS), int(0, 9), false, { k: [1, 'v'] }]) };
      default: return { type: pick([['string', 'null'], ['integer', 'boolean'], ['number', 'string']]) };
    }
  };
  const node = (depth) => {
    if (depth >= 3 || r() < 0.35) return scalar();
    switch (int(0, 4)) {
      case 0:
      case 1: return object(depth + 1);
      case 2: {
        const a = { type: 'array', items: node(depth + 1) };
        if (r() < 0.5) a.minItems = int(0, 2);
        if (r() < 0.5) a.maxItems = (a.minItems || 0) + int(0, 3);
        return a;
      }
      case 3: return { anyOf: Array.from({ length: int(2, 3) }, () => node(depth + 1)) };
      default: {
        const name = `def${Object.keys(defs).length}`;
        defs[name] = true;  // taken before its body (which may add definitions) is made
        defs[name] = node(depth + 1);
        return { $ref: `#/$defs/${name}`, description: 'a reference' };
      }
    }
  };
  const object = (depth) => {
    const properties = {};
    const count = int(1, 5);
    for (let i = 0; i < count; ++i) properties[`${pick(['id', 'name', 'value', 'item', 'état', 'q"k'])}_${i}`] = node(depth);
    const names = Object.keys(properties);
    return { type: 'object', properties, required: names.filter(() => r() < 0.7), additionalProperties: false };
  };
  const root = object(0);
  if (r() < 0.15) {
    // A recursive definition: a tree whose children are trees.
    defs.tree = { type: 'object', properties: { label: { type: 'string' }, children: { type: 'array', items: { $ref: '#/$defs/tree' }, maxItems: 2 } },
                  required: ['label', 'children'], additionalProperties: false };
    root.properties.tree = { $ref: '#/$defs/tree' };
  }
  if (Object.keys(defs).length > 0) root.$defs = defs;
  return root;
}

// Runs fn over items, `limit` at a time.
async function pool(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  }));
  return results;
}

// A Llama-3-style template that renders tools (as chat_template.test.js's).
const TEMPLATE = `{{- bos_token }}
{%- if tools %}<|start_header_id|>system<|end_header_id|>\\n\\nTools:\\n
{%- for t in tools %}{{ t | tojson }}\\n{% endfor %}<|eot_id|>{%- endif %}
{%- for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\\n\\n{{ m.content | trim }}<|eot_id|>{%- endfor %}
{%- if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\\n\\n{%- endif %}
`;

test('structured outputs', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radixlm-structured-'));
  const templateFile = path.join(dir, 'template.jinja');
  fs.writeFileSync(templateFile, TEMPLATE);
  const server = await startServer(['--chat-template', templateFile]);
  t.after(() => server.stop());
  const openai = client(server);
  const model = (await openai.models.list()).data[0].id;
  const ajv = new Ajv({ allErrors: true, strict: false });
  const messages = [{ role: 'user', content: 'Answer in JSON.' }];

  await t.test(`${COUNT} random nested schemas all validate`, async () => {
    const started = Date.now();
    const failures = [];
    let tokens = 0;
    await pool(Array.from({ length: COUNT }, (_, i) => i), CONCURRENCY, async (i) => {
      const schema = randomSchema(1000 + i);
      const r = await openai.chat.completions.create({
        model, messages, max_tokens: MAX_TOKENS, temperature: 1, seed: i,
        response_format: { type: 'json_schema', json_schema: { name: `schema_${i}`, schema, strict: true } },
      });
      tokens += r.usage.completion_tokens;
      const text = r.choices[0].message.content;
      let value;
      try {
        value = JSON.parse(text);
      } catch (e) {
        failures.push({ i, why: `not JSON (${e.message})`, text, schema });
        return;
      }
      if (!ajv.validate(schema, value)) {
        failures.push({ i, why: ajv.errorsText(), text, schema });
      } else if (r.choices[0].finish_reason !== 'stop') {
        failures.push({ i, why: `finish_reason ${r.choices[0].finish_reason}`, text, schema });
      }
    });
    const seconds = (Date.now() - started) / 1000;
    console.log(`${COUNT - failures.length} of ${COUNT} random schemas validated ` +
                `(${tokens} tokens in ${seconds.toFixed(1)} s)`);
    for (const f of failures.slice(0, 3)) {
      console.log(`schema ${f.i}: ${f.why}\n${JSON.stringify(f.schema)}\n${JSON.stringify(f.text)}`);
    }
    assert.equal(failures.length, 0, `${failures.length} of ${COUNT} outputs failed validation`);
  });

  await t.test('JSON mode returns objects; streamed and whole agree', async () => {
    for (let seed = 0; seed < 8; ++seed) {
      const body = { model, messages, max_tokens: 200, temperature: 1, seed, response_format: { type: 'json_object' } };
      const whole = await openai.chat.completions.create(body);
      const value = JSON.parse(whole.choices[0].message.content);
      assert.equal(typeof value, 'object');
      assert.ok(value !== null && !Array.isArray(value), whole.choices[0].message.content);
      let streamed = '';
      for await (const chunk of await openai.chat.completions.create({ ...body, stream: true })) {
        streamed += chunk.choices[0]?.delta?.content || '';
      }
      assert.equal(streamed, whole.choices[0].message.content);
    }
    // Completions take response_format too (as vLLM does).
    const c = await openai.completions.create({ model, prompt: 'JSON:', max_tokens: 100, temperature: 0.7, seed: 3,
                                                response_format: { type: 'json_object' } });
    assert.equal(typeof JSON.parse(c.choices[0].text), 'object');
  });

  await t.test('a short max_tokens still ends in a complete value', async () => {
    const schema = { type: 'object', properties: { note: { type: 'string' }, n: { type: 'integer' } },
                     required: ['note', 'n'], additionalProperties: false };
    for (const maxTokens of [17, 20, 30]) {  // {"note":"","n":0} is 17 bytes
      const r = await openai.chat.completions.create({
        model, messages, max_tokens: maxTokens, temperature: 1.2, seed: maxTokens,
        response_format: { type: 'json_schema', json_schema: { name: 'short', schema } },
      });
      const text = r.choices[0].message.content;
      assert.ok(r.usage.completion_tokens <= maxTokens);
      assert.ok(ajv.validate(schema, JSON.parse(text)), text);
    }
  });

  await t.test('forced tool calls', async () => {
    const tools = [
      { type: 'function', function: { name: 'get_weather', description: 'Weather in a city.',
                                       parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { enum: ['c', 'f'] } },
                                                     required: ['city', 'unit'], additionalProperties: false } } },
      { type: 'function', function: { name: 'add', parameters: { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'integer' } },
                                                                 required: ['a', 'b'], additionalProperties: false } } },
    ];
    const byName = Object.fromEntries(tools.map((x) => [x.function.name, x.function.parameters]));
    // The call either as message.tool_calls (where the model's tool-call
    // parser reads it back) or as the generic JSON form in the content.
    const calls = (message) => {
      if (message.tool_calls && message.tool_calls.length > 0) {
        return message.tool_calls.map((c) => ({ name: c.function.name, arguments: JSON.parse(c.function.arguments) }));
      }
      return [JSON.parse(message.content)];
    };
    const seen = new Set();
    for (let seed = 0; seed < 12; ++seed) {
      const r = await openai.chat.completions.create({ model, messages, tools, tool_choice: 'required', max_tokens: 200,
                                                       temperature: 1, seed });
      for (const call of calls(r.choices[0].message)) {
        assert.ok(call.name in byName, JSON.stringify(call));
        assert.ok(ajv.validate(byName[call.name], call.arguments), JSON.stringify(call));
        seen.add(call.name);
      }
      const named = await openai.chat.completions.create({
        model, messages, tools, max_tokens: 200, temperature: 1, seed,
        tool_choice: { type: 'function', function: { name: 'add' } },
      });
      for (const call of calls(named.choices[0].message)) {
        assert.equal(call.name, 'add');
        assert.ok(ajv.validate(byName.add, call.arguments), JSON.stringify(call));
      }
    }
    assert.ok(seen.size >= 1);
  });

  await t.test('unsupported schemas are 400s naming the field', async () => {
    const cases = [
      [{ type: 'object', properties: { d: { type: 'string', format: 'date-time' } } }, /at #\/properties\/d: 'format' is not supported/],
      [{ type: 'string', pattern: '^a' }, /'pattern' is not supported/],
      [{ oneOf: [{ type: 'string' }, { type: 'integer' }] }, /'oneOf' is not supported \(use anyOf\)/],
      [{ type: 'integer', minimum: 0 }, /'minimum' is not supported/],
      [{ $ref: 'https://example.com/schema.json' }, /only references into the same schema/],
      [{ type: 'strin' }, /'strin' is not a JSON Schema type/],
      [{ type: 'object', properties: {}, required: ['x'] }, /'x' is required but not among the properties/],
    ];
    for (const [schema, message] of cases) {
      await assert.rejects(
        openai.chat.completions.create({ model, messages, response_format: { type: 'json_schema', json_schema: { name: 's', schema } } }),
        (e) => e.status === 400 && e.param === 'response_format.json_schema.schema' &&
               e.type === 'invalid_request_error' && message.test(e.message),
        JSON.stringify(schema));
    }
    const badTool = [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { q: { type: 'string', maxLength: 3 } } } } }];
    await assert.rejects(
      openai.chat.completions.create({ model, messages, tools: badTool, tool_choice: 'required' }),
      (e) => e.status === 400 && e.param === 'tools[0].function.parameters' && /'maxLength' is not supported/.test(e.message));
    await assert.rejects(
      openai.chat.completions.create({ model, messages, tools: badTool, tool_choice: { type: 'function', function: { name: 'g' } } }),
      (e) => e.status === 400 && e.param === 'tool_choice' && /no function named 'g'/.test(e.message));
    // The server is still up.
    const ok = await openai.chat.completions.create({ model, messages, max_tokens: 2 });
    assert.equal(ok.choices.length, 1);
  });

  await t.test('unconstrained requests beside constrained ones are unchanged', async () => {
    const plain = { model, prompt: 'The radix tree keeps every prompt', max_tokens: 24, temperature: 0, ignore_eos: true };
    const alone = (await openai.completions.create(plain)).choices[0].text;
    const together = await Promise.all([
      openai.completions.create(plain),
      ...Array.from({ length: 6 }, (_, i) => openai.chat.completions.create({
        model, messages, max_tokens: 80, temperature: 1, seed: i, response_format: { type: 'json_object' },
      })),
    ]);
    assert.equal(together[0].choices[0].text, alone);
  });
});
