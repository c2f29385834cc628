// Retention users control (issue 24): a pinned 2,048-token system prompt
// (Anthropic-style cache_control on a chat content part) survives an all-unique
// flood that evicts everything else; pins beyond a tenant's budget are refused
// with a 400 naming the budget; pins are listed and released per tenant
// (/v1/cache/pins), counted in /metrics and /v1/cache/stats, and expire.
//
// The tiny model's context is 2,048 tokens; this file serves a copy of it whose
// config.json allows 4,096 (random weights: any context length computes).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startServer, client, eventually, MODEL } = require('./server.js');

function longContextModel() {
  // Named as the fixture is, so the served model is still "tiny-llama".
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'radixlm-retention-')), 'tiny-llama');
  fs.mkdirSync(dir);
  for (const f of fs.readdirSync(MODEL)) fs.copyFileSync(path.join(MODEL, f), path.join(dir, f));
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  config.max_position_embeddings = 4096;
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

// Text of at least `tokens` tokens for the tiny tokenizer (checked by the test).
function systemPrompt(seed, words) {
  const out = [];
  for (let i = 0; i < words; ++i) out.push(`rule${seed}x${i}`);
  return `You follow these rules: ${out.join(' ')}.`;
}

const PAGES = 512;  // 8,192 tokens of KV at 16 tokens a page
const BUDGET = 160;  // pages per tenant: one 2,048-token pin, not two

test('pins survive eviction pressure and obey budgets', async (t) => {
  const model = longContextModel();
  const server = await startServer(['--kv-pages', String(PAGES), '--max-pinned-pages-per-tenant', String(BUDGET),
                                    '--max-pinned-pages', '320',
                                    '--api-key', 'key-alpha', '--api-key', 'key-beta',
                                    '--metrics-api-key', 'key-ops'], { model });
  const alpha = client(server, 'key-alpha');
  const beta = client(server, 'key-beta');
  const auth = (key) => ({ Authorization: `Bearer ${key}` });
  const pins = async (key) => {
    const r = await server.get('/v1/cache/pins', auth(key));
    assert.equal(r.status, 200, r.text);
    return JSON.parse(r.text);
  };
  const SYSTEM = systemPrompt(1, 215);
  const chat = (c, system, user, extra = {}) => c.chat.completions.create({
    model: 'tiny-llama', max_tokens: 1, temperature: 0,
    messages: [
      { role: 'system', content: [{ type: 'text', text: system, cache_control: { type: 'ephemeral', ttl: '1h' } }] },
      { role: 'user', content: user },
    ],
    ...extra,
  });
  try {
    let pinned;
    await t.test('a cache_control block pins the prompt up to its end', async () => {
      const r = await chat(alpha, SYSTEM, 'What is rule 7?');
      assert.ok(r.usage.prompt_tokens > 2048, `prompt of ${r.usage.prompt_tokens} tokens`);
      const list = await pins('key-alpha');
      assert.equal(list.data.length, 1, JSON.stringify(list));
      pinned = list.data[0];
      assert.match(pinned.id, /^pin-\d+$/);
      assert.equal(pinned.object, 'cache.pin');
      assert.equal(pinned.active, true);
      // The system block: at least 2,048 tokens, whole pages, short of the user's turn.
      assert.ok(pinned.tokens >= 2048 && pinned.tokens % 16 === 0 && pinned.tokens < r.usage.prompt_tokens,
                JSON.stringify(pinned));
      assert.equal(pinned.pages, pinned.tokens / 16);
      assert.ok(pinned.expires_in > 3500 && pinned.expires_in <= 3600, JSON.stringify(pinned));
      assert.equal(list.budget_pages_per_tenant, BUDGET);
      assert.equal(pinned.tenant, undefined);  // tenants see no tenant names
      // Pinning it again (another conversation, same system prompt) extends the same pin.
      const again = await chat(alpha, SYSTEM, 'And rule 8?');
      assert.ok(again.usage.prompt_tokens_details.cached_tokens >= pinned.tokens);
      const after = await pins('key-alpha');
      assert.equal(after.data.length, 1);
      assert.equal(after.data[0].id, pinned.id);
      assert.equal(after.pages, pinned.pages);
    });

    await t.test('the pinned prefix survives an all-unique flood that evicts everything else', async () => {
      // (It starts with a token no flood prompt starts with: it shares nothing with them.)
      const control = Array.from({ length: 1000 }, (_, i) => (i === 0 ? 299 : 1 + ((i * 7) % 250)));
      await alpha.completions.create({ model: 'tiny-llama', prompt: control, max_tokens: 1 });
      const warm = await alpha.completions.create({ model: 'tiny-llama', prompt: control, max_tokens: 1 });
      assert.equal(warm.usage.prompt_tokens_details.cached_tokens, 999);
      const before = await server.metrics(auth('key-ops'));
      // 40 unique prompts of 400 tokens: 1,000 pages through a pool of 512.
      for (let i = 0; i < 40; ++i) {
        const prompt = Array.from({ length: 400 }, (_, j) => 1 + ((i * 131 + j * 17 + ((j * j) % 97)) % 300));
        prompt[0] = 1 + (i % 300);
        prompt[1] = 1 + ((i * 37) % 300);
        await alpha.completions.create({ model: 'tiny-llama', prompt, max_tokens: 1 });
      }
      const after = await server.metrics(auth('key-ops'));
      assert.ok(after['radixlm:cache_pages_evicted_total'] - before['radixlm:cache_pages_evicted_total'] >= 400,
                'the flood evicted');
      const cold = await alpha.completions.create({ model: 'tiny-llama', prompt: control, max_tokens: 1 });
      assert.equal(cold.usage.prompt_tokens_details.cached_tokens, 0, 'the unpinned prompt was evicted');
      const hit = await chat(alpha, SYSTEM, 'A new question after the flood?');
      assert.ok(hit.usage.prompt_tokens_details.cached_tokens >= pinned.tokens,
                `cached ${hit.usage.prompt_tokens_details.cached_tokens} of the pinned ${pinned.tokens}`);
      // Pinned pages are counted, in total and by tenant.
      const m = await server.metrics(auth('key-ops'));
      assert.equal(m['radixlm:cache_pinned_pages{state="pinned"}'], pinned.pages);
      assert.equal(m['radixlm:cache_pins'], 1);
      const tenant = Object.keys(m).find((k) => k.startsWith('radixlm:cache_pinned_pages_by_tenant{'));
      assert.match(tenant, /tenant="key:[0-9a-f]{32}"/);
      assert.equal(m[tenant], pinned.pages);
      const stats = JSON.parse((await server.get('/v1/cache/stats', auth('key-alpha'))).text);
      assert.equal(stats.pins.pages_pinned, pinned.pages);
      assert.equal(stats.pins.budget_pages_per_tenant, BUDGET);
      const other = JSON.parse((await server.get('/v1/cache/stats', auth('key-beta'))).text);
      assert.equal(other.pins.pages_pinned, 0);
    });

    await t.test('a pin beyond the budget is refused with a 400 naming it', async () => {
      const err = await chat(alpha, systemPrompt(2, 215), 'hi').then(() => null, (e) => e);
      assert.ok(err, 'the second 2,048-token pin was accepted');
      assert.equal(err.status, 400);
      assert.equal(err.type, 'invalid_request_error');
      assert.equal(err.param, 'messages[0].content[0].cache_control');
      assert.match(err.message, new RegExp(`budget of ${BUDGET} pinned pages`));
      assert.match(err.message, /--max-pinned-pages-per-tenant/);
      // Nothing ran and nothing was pinned.
      assert.equal((await pins('key-alpha')).data.length, 1);
      // The budget is the tenant's: another tenant pins the same size.
      const r = await chat(beta, systemPrompt(2, 215), 'hi');
      assert.ok(r.usage.prompt_tokens > 2048);
      assert.equal((await pins('key-beta')).data.length, 1);
      // /v1/completions: the radixlm field, bounded the same way.
      const long = Array.from({ length: 2100 }, (_, i) => 1 + ((i * 11) % 300));
      const bad = await alpha.completions.create({
        model: 'tiny-llama', prompt: long, max_tokens: 1, cache_control: { ttl: 600, prefix_tokens: 2048 },
      }).then(() => null, (e) => e);
      assert.equal(bad?.status, 400);
      assert.equal(bad.param, 'cache_control');
      assert.match(bad.message, /budget of 160 pinned pages/);
    });

    await t.test('pins are listed and released per tenant', async () => {
      const all = await pins('key-ops');
      assert.equal(all.data.length, 2);
      assert.deepEqual(new Set(all.data.map((p) => p.tenant)).size, 2);
      const betaPin = (await pins('key-beta')).data[0];
      // Another tenant's pin is not found; the operator's key may release any.
      const foreign = await fetch(`${server.url}/v1/cache/pins/${betaPin.id}`, { method: 'DELETE', headers: auth('key-alpha') });
      assert.equal(foreign.status, 404);
      const own = await fetch(`${server.url}/v1/cache/pins/${betaPin.id}`, { method: 'DELETE', headers: auth('key-beta') });
      assert.equal(own.status, 200);
      assert.deepEqual(await own.json(), { id: betaPin.id, object: 'cache.pin', deleted: true });
      assert.equal((await pins('key-beta')).data.length, 0);
      // With its pin released, alpha may pin a second system prompt; DELETE on the
      // collection releases all of the caller's pins.
      const released = await fetch(`${server.url}/v1/cache/pins`, { method: 'DELETE', headers: auth('key-alpha') });
      assert.deepEqual(await released.json(), { object: 'list', released: 1 });
      await chat(alpha, systemPrompt(2, 215), 'hi');
      assert.equal((await pins('key-alpha')).data.length, 1);
      const m = await server.metrics(auth('key-ops'));
      assert.equal(m['radixlm:cache_pins'], 1);
    });

    await t.test('a request that cannot fit beside the pins is turned away, not left waiting', async () => {
      const held = (await pins('key-ops')).pages;
      assert.ok(held > 0);
      // n = 2 samples of 4,080 tokens: 2 x (255 + 1) = 512 pages, the whole pool.
      const prompt = Array.from({ length: 6 }, (_, i) => 1 + i);
      const e = await beta.completions.create({ model: 'tiny-llama', prompt, n: 2, max_tokens: 4074 })
        .then(() => null, (x) => x);
      assert.equal(e?.status, 503);
      assert.match(e.message, new RegExp(`needs up to 512 KV pages but ${held} of the pool's 512 are pinned`));
    });

    await t.test('a pin expires after its ttl', async () => {
      const prompt = Array.from({ length: 64 }, (_, i) => 1 + ((i * 5) % 300));
      await beta.completions.create({ model: 'tiny-llama', prompt, max_tokens: 1, cache_control: { ttl: '1s' } });
      const listed = (await pins('key-beta')).data;
      assert.equal(listed.length, 1);
      assert.equal(listed[0].tokens, 64);
      await eventually(async () => (await pins('key-beta')).data.length === 0, { what: 'the pin to expire' });
    });

    await t.test('retention fields are checked', async () => {
      for (const [body, param] of [
        [{ retention_priority: 101 }, 'retention_priority'],
        [{ cache_control: { ttl: '2d' } }, 'cache_control.ttl'],
        [{ cache_control: { ttl: 999999 } }, 'cache_control.ttl'],
        [{ cache_control: { prefix_tokens: 4096 } }, 'cache_control.prefix_tokens'],
      ]) {
        const e = await alpha.completions.create({ model: 'tiny-llama', prompt: 'hello', max_tokens: 1, ...body })
          .then(() => null, (x) => x);
        assert.equal(e?.status, 400, JSON.stringify(body));
        assert.equal(e.param, param);
      }
      const ok = await alpha.completions.create({ model: 'tiny-llama', prompt: 'hello', max_tokens: 1,
                                                  retention_priority: 50 });
      assert.equal(ok.choices.length, 1);
    });
  } finally {
    await server.stop();
    fs.rmSync(path.dirname(model), { recursive: true, force: true });
  }
});
