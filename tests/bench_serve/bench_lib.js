// Runs `radixlm bench serve` / `bench compare` as child processes (asynchronously,
// so a fake server in the test's own process keeps answering) and checks that a
// report's figures agree with each other and with its per-request records.
'use strict';
const { spawn } = require('node:child_process');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const RADIXLM = process.env.RADIXLM;
const WORK = fs.mkdtempSync(path.join(os.tmpdir(), 'radixlm-bench-serve-'));

// Resolves to { code, signal, stdout, stderr, ms }.
function run(args, { timeoutMs = 60000 } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const proc = spawn(RADIXLM, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => { stdout += d; });
    proc.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`radixlm ${args.join(' ')}: no exit in ${timeoutMs} ms`)); }, timeoutMs);
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

let counter = 0;
// bench serve with a JSON (and SVG) output; resolves to { ...run, report, json, svg }.
async function benchServe(url, args, options = {}) {
  const json = path.join(WORK, `run-${++counter}.json`);
  const svg = path.join(WORK, `run-${counter}.svg`);
  const r = await run(['bench', 'serve', '--base-url', url, '--model', 'tiny', '--json', json, '--plot', svg, ...args],
                      options);
  assert.equal(r.signal, null, `killed by ${r.signal}:\n${r.stderr}`);
  assert.ok(fs.existsSync(json), `no JSON written (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  return { ...r, report: JSON.parse(fs.readFileSync(json, 'utf8')), json, svg };
}

const close = (a, b, rel = 1e-9) => Math.abs(a - b) <= rel * Math.max(1, Math.abs(a), Math.abs(b));

// Figures consistent with each other and with the records.
function checkConsistent(report) {
  const recs = report.per_request;
  assert.equal(recs.length, report.requests);
  assert.equal(report.completed + report.failed + report.not_sent, report.requests, 'counts add up');
  const failures = Object.values(report.failures).reduce((a, b) => a + b, 0);
  assert.equal(failures, report.failed, 'failures by kind add up');
  const ok = recs.filter((r) => r.ok);
  assert.equal(ok.length, report.completed);
  assert.equal(recs.filter((r) => !r.sent).length, report.not_sent);
  for (const kind of Object.keys(report.failures)) {
    assert.equal(recs.filter((r) => r.failure === kind).length, report.failures[kind], `failures of kind ${kind}`);
  }
  const sum = (f) => ok.reduce((a, r) => a + f(r), 0);
  assert.equal(sum((r) => r.output_tokens), report.output_tokens);
  assert.equal(sum((r) => (r.prompt_tokens >= 0 ? r.prompt_tokens : r.prompt_units)), report.input_tokens);
  assert.equal(sum((r) => r.ideal_cached_units), report.ideal_cached_units);
  assert.equal(sum((r) => r.prompt_units), report.prompt_units);
  const d = report.duration_s;
  if (report.completed > 0) {
    assert.ok(d > 0);
    // Throughput x duration = tokens (and requests).
    assert.ok(close(report.request_throughput * d, report.completed));
    assert.ok(close(report.output_throughput * d, report.output_tokens));
    assert.ok(close(report.input_throughput * d, report.input_tokens));
    assert.ok(close(report.total_throughput, report.input_throughput + report.output_throughput));
    // The duration covers every request's end, and no more.
    const last = Math.max(...recs.filter((r) => r.sent).map((r) => r.sent_s + r.e2e_s));
    assert.ok(close(d, last), `duration ${d} vs last end ${last}`);
  }
  for (const name of ['ttft_s', 'tpot_s', 'itl_s', 'e2e_s']) {
    const s = report[name];
    if (s.count === 0) continue;
    assert.ok(s.min <= s.p50 && s.p50 <= s.p90 && s.p90 <= s.p99 && s.p99 <= s.max, `${name} ordered: ${JSON.stringify(s)}`);
    assert.ok(s.min <= s.mean && s.mean <= s.max, `${name} mean within range`);
  }
  assert.equal(report.ttft_s.count, report.completed);
  assert.equal(report.e2e_s.count, report.completed);
  assert.equal(report.itl_s.count, ok.reduce((a, r) => a + r.itl_s.length, 0));
  for (const r of ok) {
    assert.ok(r.ttft_s > 0 && r.ttft_s <= r.e2e_s, `request ${r.index}: ttft ${r.ttft_s} e2e ${r.e2e_s}`);
    assert.ok(r.ideal_cached_units <= r.prompt_units - 1 || r.prompt_units === 0);
    assert.ok(r.sent_s >= r.scheduled_s - 1e-3, `request ${r.index} sent before it was due`);
  }
  if (report.cached_ratio !== null) {
    assert.ok(close(report.cached_ratio, report.cached_tokens / sum((r) => (r.cached_tokens >= 0 ? (r.prompt_tokens >= 0 ? r.prompt_tokens : r.prompt_units) : 0))));
  }
}

module.exports = { RADIXLM, WORK, run, benchServe, checkConsistent };
