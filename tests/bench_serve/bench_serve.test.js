// `radixlm bench serve` against radixlm's own server on 127.0.0.1 with the tiny
// model: every workload and arrival process runs, figures agree with each other,
// the server-reported cached ratio reaches the ideal, and `bench compare` reads
// the runs back. Each run is a few dozen tiny requests (well under a second).
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { startServer } = require('../e2e/server.js');
const { WORK, run, benchServe, checkConsistent } = require('./bench_lib.js');

let server;
before(async () => { server = await startServer(['--served-model-name', 'tiny']); });
after(async () => { await server.stop(); });

// Every run starts from an empty cache, so its ideal (which assumes one) holds.
const flush = ['--flush-cache', '/v1/cache/flush'];
const gsp = ['--workload', 'generated-shared-prefix', '--groups', '4', '--prompts-per-group', '4',
             '--system-tokens', '256', '--question-tokens', '32', '--max-tokens', '4'];

async function ok(args) {
  const r = await benchServe(server.url, [...flush, ...args]);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  checkConsistent(r.report);
  assert.equal(r.report.completed, r.report.requests);
  return r;
}

test('generated-shared-prefix: cached tokens reach >= 95% of the ideal; the figures agree', async () => {
  const r = await ok([...gsp, '--concurrency', '4', '--label', 'gsp']);
  const rep = r.report;
  assert.equal(rep.requests, 16);
  assert.equal(rep.prompt_format, 'tokens');
  assert.equal(rep.ideal_unit, 'tokens');
  // (P-1)/P * S/(S+Q) = 3/4 * 256/288, plus at most a token of chance sharing per request.
  assert.ok(rep.ideal_cached_ratio >= 0.6666 && rep.ideal_cached_ratio < 0.6666 + 16 / 4608 + 1e-9,
            `ideal ${rep.ideal_cached_ratio}`);
  assert.ok(rep.cached_ratio >= 0.95 * rep.ideal_cached_ratio, `cached ${rep.cached_ratio} vs ideal ${rep.ideal_cached_ratio}`);
  assert.equal(rep.cached_reported, 16);
  assert.equal(rep.output_tokens, 16 * 4);
  // A chunk per token as a rule; when the client falls behind the tiny model,
  // the server sends the tokens it has in one chunk (ITL counts chunk gaps).
  for (const rec of rep.per_request) assert.ok(rec.itl_s.length <= 3, `${rec.itl_s.length} gaps`);
  assert.match(r.stdout, /time to first token/);
  assert.match(fs.readFileSync(r.svg, 'utf8'), /^<svg[\s\S]*Time to first token[\s\S]*Output throughput[\s\S]*<\/svg>\n$/);
});

test('same seed, same prompts; the ideal is the same whatever the arrival process', async () => {
  const a = await ok([...gsp, '--concurrency', '2']);
  const b = await ok([...gsp, '--request-rate', '200']);
  assert.equal(a.report.prompts_hash, b.report.prompts_hash);
  assert.equal(b.report.arrivals, 'poisson');
  const c = await ok([...gsp, '--concurrency', '2', '--seed', '2']);
  assert.notEqual(a.report.prompts_hash, c.report.prompts_hash);
});

test('multi-turn: turns in order after the previous answer; history from the server hits the answers', async () => {
  const args = ['--workload', 'multi-turn', '--groups', '3', '--turns', '3', '--system-tokens', '64',
                '--question-tokens', '16', '--output-tokens', '8', '--concurrency', '3'];
  const server_history = (await ok(args)).report;
  const generated = (await ok([...args, '--history', 'generated'])).report;
  for (const rep of [server_history, generated]) {
    assert.equal(rep.requests, 9);
    const bySession = {};
    for (const r of rep.per_request) (bySession[r.session] ||= []).push(r);
    for (const turns of Object.values(bySession)) {
      for (let k = 1; k < turns.length; ++k) {
        assert.ok(turns[k].sent_s >= turns[k - 1].sent_s + turns[k - 1].e2e_s - 1e-6, 'a turn waits for the previous answer');
      }
    }
    assert.ok(rep.cached_ratio >= 0.95 * rep.ideal_cached_ratio, `cached ${rep.cached_ratio} ideal ${rep.ideal_cached_ratio}`);
  }
  assert.equal(server_history.history_fallbacks, 0, 'radixlm names the answer ids');
  // With the server's answers in the history, the previous answer is a hit too.
  assert.ok(server_history.ideal_cached_ratio > generated.ideal_cached_ratio);
});

test('doc-qa, few-shot, chatbot, tree-of-thought and all-unique run', async () => {
  const runs = {
    'doc-qa': ['--num-prompts', '12', '--groups', '2', '--system-tokens', '128', '--question-tokens', '16'],
    'few-shot': ['--num-prompts', '12', '--system-tokens', '128'],
    chatbot: ['--num-prompts', '12', '--system-tokens', '64', '--question-tokens', '8'],
    'tree-of-thought': ['--groups', '1', '--branching', '2', '--depth', '2', '--system-tokens', '64', '--output-tokens', '4'],
    'all-unique': ['--num-prompts', '8', '--system-tokens', '64'],
  };
  for (const [name, args] of Object.entries(runs)) {
    const rep = (await ok(['--workload', name, ...args, '--max-tokens', '4', '--concurrency', '2'])).report;
    assert.equal(rep.workload, name);
    assert.ok(rep.cached_ratio >= 0.95 * rep.ideal_cached_ratio, `${name}: cached ${rep.cached_ratio} ideal ${rep.ideal_cached_ratio}`);
    if (name === 'all-unique') assert.ok(rep.ideal_cached_ratio < 0.02);
    else assert.ok(rep.ideal_cached_ratio > 0.3, `${name} shares prefixes`);
  }
});

test('text prompts keep the sharing (completions and chat), measured in words', async () => {
  for (const endpoint of ['completions', 'chat']) {
    const rep = (await ok([...gsp, '--concurrency', '2', '--prompt-format', 'text', '--endpoint', endpoint])).report;
    assert.equal(rep.prompt_format, 'text');
    assert.equal(rep.ideal_unit, 'words');
    assert.ok(Math.abs(rep.cached_ratio - rep.ideal_cached_ratio) < 0.08,
              `${endpoint}: cached ${rep.cached_ratio} vs ideal ${rep.ideal_cached_ratio} words`);
  }
  const chat = (await ok(['--workload', 'multi-turn', '--groups', '2', '--turns', '3', '--system-tokens', '32',
                          '--question-tokens', '8', '--output-tokens', '6', '--endpoint', 'chat'])).report;
  assert.ok(chat.cached_ratio > 0.3, `multi-turn chat hits: ${chat.cached_ratio}`);
});

test('auto format falls back to text when the server refuses token ids', async () => {
  // Ids up to 100000 lie outside the tiny model's 320-token vocabulary: a 400.
  const r = await ok([...gsp, '--vocab', '100000', '--concurrency', '2']);
  assert.equal(r.report.prompt_format, 'text');
  assert.match(r.stderr, /refused token-id prompts/);
});

test('trace replay: hash-block and radixlm traces, with their timestamps', async () => {
  const blocks = path.join(WORK, 'blocks.jsonl');
  const recs = [[0, [0, 1, 2, 3]], [60, [0, 1, 2, 4, 5]], [120, [0, 1, 6]], [150, [7, 8]], [200, [0, 1, 2, 3, 9]], [260, [7, 8, 10]]];
  fs.writeFileSync(blocks, recs.map(([t, ids]) => JSON.stringify({ timestamp: t, input_length: ids.length * 16 - 3, output_length: 3, hash_ids: ids })).join('\n') + '\n');
  const hb = (await ok(['--trace', blocks, '--block-tokens', '16'])).report;
  assert.equal(hb.arrivals, 'trace');
  assert.equal(hb.requests, 6);
  recs.forEach(([t], i) => assert.ok(Math.abs(hb.per_request[i].scheduled_s - t / 1000) < 1e-9));
  // Blocks shared with earlier requests: 48+32+0+61+29 of 61+77+45+29+77+45 tokens (less chance overlaps).
  assert.ok(Math.abs(hb.ideal_cached_ratio - 170 / 334) < 0.02, `ideal ${hb.ideal_cached_ratio}`);
  assert.ok(hb.cached_ratio >= 0.95 * hb.ideal_cached_ratio);

  const trace = path.join(WORK, 'multi-turn.jsonl');
  const g = await run(['sim', 'generate', '--workload', 'multi-turn', '--requests', '6', '--turns', '3', '--system-tokens', '32',
                       '--question-tokens', '8', '--output-tokens', '4', '--rate', '20', '--think-time', '0.05', '--out', trace]);
  assert.equal(g.code, 0, g.stderr);
  const mt = (await ok(['--trace', trace, '--time-scale', '2'])).report;
  assert.equal(mt.time_scale, 2);
  assert.ok(mt.cached_ratio >= 0.95 * mt.ideal_cached_ratio);
  for (const r of mt.per_request) assert.ok(r.sent_s >= r.scheduled_s - 1e-3);
});

test('bench compare prints the runs side by side with ratios to the first', async () => {
  const a = await ok([...gsp, '--concurrency', '1', '--label', 'one at a time']);
  const b = await ok([...gsp, '--concurrency', '4', '--label', 'four at a time']);
  const out = path.join(WORK, 'compare.json');
  const svg = path.join(WORK, 'compare.svg');
  const r = await run(['bench', 'compare', a.json, b.json, '--json', out, '--plot', svg]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /one at a time.*four at a time/);
  assert.match(r.stdout, /TTFT p99 \(ms\)/);
  const cmp = JSON.parse(fs.readFileSync(out, 'utf8'));
  assert.equal(cmp.runs.length, 2);
  for (const [key, v] of Object.entries(cmp.runs[0].ratio_to_first)) if (v !== null) assert.equal(v, 1, key);
  const ratio = cmp.runs[1].ratio_to_first;
  assert.ok(Math.abs(ratio['ttft_s.mean'] - b.report.ttft_s.mean / a.report.ttft_s.mean) < 1e-12);
  assert.ok(Math.abs(ratio.request_throughput - b.report.request_throughput / a.report.request_throughput) < 1e-12);
  assert.equal(cmp.lower_is_better['ttft_s.p50'], true);
  assert.match(fs.readFileSync(svg, 'utf8'), /<svg[\s\S]*one at a time/);
  const bad = await run(['bench', 'compare', a.json, path.join(WORK, 'missing.json')]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /cannot open/);
});

// The agent workload: chat with the same tools every time and transcripts
// growing by a tool call, its result and a user turn. With the server's
// /tokenize the ideal is in tokens, and radixlm's cache reaches it exactly,
// request by request. (The tiny model's context is raised to 8k in a copy:
// Llama's rotary positions need no weights for it.)
test('agent: cached tokens equal the ideal in tokens, request by request', async (t) => {
  const os = require('node:os');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radixlm-agent-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const model = process.env.RADIXLM_MODEL;
  for (const f of ['model.safetensors', 'tokenizer.json', 'tokenizer_config.json'])
    fs.symlinkSync(path.join(model, f), path.join(dir, f));
  const config = JSON.parse(fs.readFileSync(path.join(model, 'config.json'), 'utf8'));
  config.max_position_embeddings = 8192;
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  const template = path.join(__dirname, '..', 'e2e', 'templates', 'qwen_tools.jinja');
  const agentServer = await startServer(['--served-model-name', 'tiny', '--chat-template', template,
                                         '--kv-memory', '256MiB'], { model: dir });
  t.after(() => agentServer.stop());
  for (const history of ['server', 'generated']) {
    const r = await benchServe(agentServer.url, [...flush, '--workload', 'agent', '--groups', '3', '--turns', '3',
                                                 '--system-tokens', '16', '--question-tokens', '8',
                                                 '--max-tokens', '4', '--concurrency', '3', '--history', history]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    checkConsistent(r.report);
    const rep = r.report;
    assert.equal(rep.endpoint, 'chat');
    assert.equal(rep.ideal_unit, 'tokens');
    assert.equal(rep.completed, 9);
    assert.equal(rep.history_fallbacks, 0);
    assert.ok(rep.ideal_cached_ratio > 0.7, `ideal ${rep.ideal_cached_ratio}`);
    assert.equal(rep.cached_tokens, rep.ideal_cached_units, history);
    const bySession = {};
    for (const rec of rep.per_request) {
      assert.equal(rec.prompt_units, rec.prompt_tokens, 'the ideal counts the prompt the server built');
      (bySession[rec.session] ||= []).push(rec);
    }
    for (const steps of Object.values(bySession)) {
      // Sessions start together, so which of them computes the shared tools
      // first is the server's choice; after that each step is its own.
      for (let k = 1; k < steps.length; ++k) {
        assert.equal(steps[k].cached_tokens, steps[k].ideal_cached_units, `${history}: request ${steps[k].index}`);
        assert.ok(steps[k].cached_tokens >= steps[k - 1].prompt_tokens, 'each step holds the whole previous prompt');
      }
    }
  }
});
