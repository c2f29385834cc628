// The dashboard against a cache of about a million entries (issue 27's
// targets: the page loads in < 300 ms and redraws in < 50 ms; open pages cost
// < 1% of the server's throughput).
//
// 1. `radixlm serve` (one model thread, page size 1, a pool that keeps
//    everything) is filled with BRANCHING^LEVELS distinct token prompts (a
//    complete trie: 32^4 = 1,048,576 prompts, about 1.08M cache entries),
//    256 prompts per completions call, max_tokens 1.
// 2. One /v1/cache/tree summary of the full cache: its step-thread seconds
//    (radixlm:cache_tree_summary_seconds_total).
// 3. /dashboard in headless Chromium (puppeteer-core, Debian's chromium): from
//    navigation to the first live event and the tree drawn, when the page's
//    tree call makes a new summary and when it shares one made for another
//    viewer; then the open page's tree redrawn from the server (fetch + draw,
//    and the draw alone).
// 4. `radixlm bench serve` throughput with no viewer and with VIEWERS
//    simulated pages (each: the event stream, and /v1/cache/tree?max_nodes=2000
//    every 5 s, the page's rate), in ROUNDS pairs of alternating order after
//    a warm-up run (each run 4,096 requests of 32 output tokens, 8 at a time);
//    the summaries' share of the step thread over the runs with viewers from
//    /metrics, and the server's CPU time per output token (/proc) with and
//    without viewers.
//
// Usage (puppeteer-core from the cli_dashboard test's npm install):
//   NODE_PATH=build/tests/dashboard/npm/node_modules node bench/dashboard_bench.js \
//     build/src/tools/radixlm build/tests/e2e/tiny-llama [--branching 32] [--levels 4]
//     [--viewers 8] [--rounds 6] [--groups 32] [--prompts-per-group 128] [--json OUT.json]
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const argv = process.argv.slice(2);
if (argv.length < 2) {
  console.error('usage: node bench/dashboard_bench.js RADIXLM MODEL_DIR [--branching B] [--levels L] [--viewers K] ' +
                '[--rounds R] [--groups G] [--prompts-per-group P] [--json OUT]');
  process.exit(2);
}
const [RADIXLM, MODEL] = argv;
const opt = (name, fallback) => {
  const i = argv.indexOf('--' + name);
  return i < 0 ? fallback : argv[i + 1];
};
const BRANCHING = Number(opt('branching', 32));
const LEVELS = Number(opt('levels', 4));
const VIEWERS = Number(opt('viewers', 8));
const ROUNDS = Number(opt('rounds', 6));
const GROUPS = Number(opt('groups', 32));
const PER_GROUP = Number(opt('prompts-per-group', 128));
const JSON_OUT = opt('json', '');
const CHROMIUM = process.env.CHROMIUM || ['/usr/bin/chromium-headless-shell', '/usr/bin/chromium']
  .find((p) => fs.existsSync(p));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

async function startServer(kvPages) {
  const proc = spawn(RADIXLM, ['serve', '--model', MODEL, '--host', '127.0.0.1', '--port', '0', '--threads', '1',
                               '--page-size', '1', '--kv-pages', String(kvPages)],
                     { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stderr.on('data', (d) => { out += d; });
  const url = await new Promise((resolve, reject) => {
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/[\d.]+:\d+)/);
      if (m) resolve(m[1]);
    });
    proc.on('exit', (code) => reject(new Error(`server exited (${code}):\n${out}`)));
  });
  return { proc, url };
}

// The server process's CPU seconds so far (user + system, /proc/PID/stat).
function cpuSeconds(pid) {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;  // utime, stime in ticks of 1/100 s
}

async function getJson(url) {
  const r = await fetch(url);
  if (r.status !== 200) throw new Error(`${url}: ${r.status} ${await r.text()}`);
  return r.json();
}

async function metrics(url) {
  const text = await (await fetch(url + '/metrics')).text();
  const m = {};
  for (const line of text.split('\n')) {
    const x = line.match(/^radixlm:(cache_tree_\w+)\{[^}]*\} (\S+)$/);
    if (x) m[x[1]] = Number(x[2]);
  }
  return m;
}

async function fill(url, model) {
  const total = BRANCHING ** LEVELS;
  const per = 256;
  let next = 0;
  const t0 = Date.now();
  async function worker() {
    while (next < total) {
      const batch = [];
      for (; batch.length < per && next < total; ++next) {
        const p = [];
        for (let d = 0, x = next; d < LEVELS; ++d, x = Math.floor(x / BRANCHING)) p.push(x % BRANCHING);
        batch.push(p.reverse());
      }
      const r = await fetch(url + '/v1/completions', {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ model, prompt: batch, max_tokens: 1, temperature: 0 }),
      });
      if (r.status !== 200) throw new Error(`fill: ${r.status} ${await r.text()}`);
      await r.arrayBuffer();
    }
  }
  await Promise.all(Array.from({ length: 4 }, worker));
  return { prompts: total, seconds: (Date.now() - t0) / 1000 };
}

// A simulated page: the event stream, and the tree every 5 s from `offsetMs`.
function startViewer(url, offsetMs) {
  const controller = new AbortController();
  const counts = { events: 0, trees: 0, tree_bytes: 0 };
  (async () => {
    try {
      const res = await fetch(url + '/v1/dashboard/events', { signal: controller.signal });
      const reader = res.body.getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        counts.events += (Buffer.from(value).toString().match(/^data:/gm) || []).length;
      }
    } catch { /* aborted */ }
  })();
  (async () => {
    await sleep(offsetMs);
    while (!controller.signal.aborted) {
      try {
        const r = await fetch(url + '/v1/cache/tree?max_nodes=2000', { signal: controller.signal });
        counts.tree_bytes += (await r.arrayBuffer()).byteLength;
        ++counts.trees;
      } catch { /* aborted */ }
      await sleep(5000);
    }
  })();
  return { stop: () => controller.abort(), counts };
}

function benchServe(url, model, jsonPath) {
  const args = ['bench', 'serve', '--base-url', url, '--model', model, '--workload', 'generated-shared-prefix',
                '--groups', String(GROUPS), '--prompts-per-group', String(PER_GROUP), '--system-tokens', '256',
                '--question-tokens', '32', '--output-tokens', '32', '--vocab', '256', '--concurrency', '8',
                '--seed', '3', '--json', jsonPath];
  return new Promise((resolve, reject) => {
    const p = spawn(RADIXLM, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => { err += d; });
    p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(fs.readFileSync(jsonPath, 'utf8')))
                                       : reject(new Error(`bench serve exited ${code}: ${err}`))));
  });
}

async function pageLoads(browser, url, model, summaryCostS) {
  const loads = { made: [], shared: [] };
  let cost = summaryCostS;
  for (let i = 0; i < 5; ++i) {
    for (const kind of ['made', 'shared']) {
      if (kind === 'made') {
        // Past the summary's age and the share's bound (0.5%: 199 times the
        // last summary's step time, at most 40 s here), so that the page's
        // tree call makes one; loads that found one to share count as shared.
        await sleep(Math.min(40000, Math.max(1100, 1000 * 200 * cost + 500)));
      } else {
        await fetch(url + '/v1/cache/tree?max_nodes=2000').then((r) => r.arrayBuffer());
      }
      const before = await metrics(url);
      const page = await browser.newPage();
      await page.setViewport({ width: 1400, height: 1100 });
      await page.goto(url + '/dashboard');
      await page.waitForFunction(() => window.radixlmFirstEventAt !== undefined &&
                                       window.radixlmTreeDrawnAt !== undefined, { timeout: 30000 });
      const t = await page.evaluate(() => {
        const nav = performance.getEntriesByType('navigation')[0];
        const tree = performance.getEntriesByType('resource').find((e) => e.name.includes('/v1/cache/tree'));
        return { first_event_ms: window.radixlmFirstEventAt, tree_drawn_ms: window.radixlmTreeDrawnAt,
                 draw_ms: window.radixlmTreeDrawMs, html_ms: nav.responseEnd,
                 tree_fetch_ms: tree ? tree.responseEnd - tree.startTime : null,
                 rows: document.querySelectorAll('#tree rect.node').length };
      });
      const after = await metrics(url);
      t.load_ms = Math.max(t.first_event_ms, t.tree_drawn_ms);
      t.summaries_made = after.cache_tree_summaries_total - before.cache_tree_summaries_total;
      t.summary_step_ms = 1000 * (after.cache_tree_summary_seconds_total - before.cache_tree_summary_seconds_total);
      if (t.summaries_made > 0) cost = t.summary_step_ms / 1000 / t.summaries_made;
      loads[kind].push(t);
      await page.close();
    }
  }
  // Redraws of an open page from the server's tree.
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 1100 });
  await page.goto(url + '/dashboard');
  await page.waitForFunction(() => window.radixlmTreeDrawnAt !== undefined, { timeout: 30000 });
  const redraws = [];
  for (let i = 0; i < 7; ++i) {
    redraws.push(await page.evaluate(async () => {
      const t0 = performance.now();
      await refreshTree();
      return { total_ms: performance.now() - t0, draw_ms: window.radixlmTreeDrawMs };
    }));
    await sleep(300);
  }
  await page.screenshot({ path: path.join(os.tmpdir(), 'dashboard_bench.png') });
  await page.close();
  return { loads, redraws };
}

async function main() {
  if (!CHROMIUM) throw new Error('chromium not found (scripts/setup.sh installs chromium-headless-shell)');
  const puppeteer = require('puppeteer-core');
  const model = path.basename(path.resolve(MODEL));
  const expected = BRANCHING ** LEVELS;
  const { proc, url } = await startServer(Math.ceil(expected * 1.3) + 400000);
  const result = { machine: { cpus: os.cpus().length, model: os.cpus()[0].model }, branching: BRANCHING,
                   levels: LEVELS, viewers: VIEWERS };
  try {
    result.fill = await fill(url, model);
    const stats = await getJson(url + '/v1/cache/stats');
    result.cache = { nodes: stats.cache.nodes, cached_tokens: stats.cache.cached_tokens };
    console.log(`filled: ${result.fill.prompts} prompts in ${result.fill.seconds.toFixed(1)} s; ` +
                `${stats.cache.nodes} cache entries, ${stats.cache.cached_tokens} tokens`);

    // One summary of the whole cache, timed on the step thread.
    const m0 = await metrics(url);
    const tree = await getJson(url + '/v1/cache/tree?max_nodes=2000');
    const m1 = await metrics(url);
    result.summary = { step_ms: 1000 * (m1.cache_tree_summary_seconds_total - m0.cache_tree_summary_seconds_total),
                       entries: tree.entries, rows: tree.rows.length };
    console.log(`summary of ${tree.entries} entries into ${tree.rows.length} rows: ` +
                `${result.summary.step_ms.toFixed(1)} ms of the step thread`);

    const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true,
                                             args: ['--no-sandbox', '--disable-gpu'] });
    try {
      result.page = await pageLoads(browser, url, model, result.summary.step_ms / 1000);
    } finally {
      await browser.close();
    }
    const made = result.page.loads.made.filter((x) => x.summaries_made > 0);
    result.page.loads.shared.push(...result.page.loads.made.filter((x) => x.summaries_made === 0));
    result.page.loads.made = made;
    for (const kind of ['made', 'shared']) {
      const l = result.page.loads[kind];
      if (l.length === 0) continue;
      console.log(`page load, summary ${kind}: median ${median(l.map((x) => x.load_ms)).toFixed(0)} ms ` +
                  `(${l.map((x) => x.load_ms.toFixed(0)).join(', ')}); tree fetch median ` +
                  `${median(l.map((x) => x.tree_fetch_ms)).toFixed(0)} ms; summaries made ` +
                  `${l.map((x) => x.summaries_made).join(',')} (step ms ` +
                  `${l.map((x) => x.summary_step_ms.toFixed(0)).join(',')}); html ` +
                  `${median(l.map((x) => x.html_ms)).toFixed(0)} ms, draw ${median(l.map((x) => x.draw_ms)).toFixed(1)} ms`);
    }
    const rd = result.page.redraws;
    console.log(`redraw from the server: median ${median(rd.map((x) => x.total_ms)).toFixed(1)} ms ` +
                `(draw alone ${median(rd.map((x) => x.draw_ms)).toFixed(1)} ms)`);

    // Throughput with and without viewers.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dashboard_bench-'));
    await benchServe(url, model, path.join(tmp, 'warmup.json'));
    result.runs = [];
    for (let round = 0; round < ROUNDS; ++round) {
      const order = round % 2 === 0 ? [0, VIEWERS] : [VIEWERS, 0];
      for (const viewers of order) {
        const vs = [];
        for (let k = 0; k < viewers; ++k) vs.push(startViewer(url, (5000 * k) / viewers));
        await sleep(viewers > 0 ? 1000 : 0);
        const before = await metrics(url);
        const load = os.loadavg()[0];
        const cpu0 = cpuSeconds(proc.pid);
        const r = await benchServe(url, model, path.join(tmp, `run${round}-${viewers}.json`));
        const cpu = cpuSeconds(proc.pid) - cpu0;
        const after = await metrics(url);
        for (const v of vs) v.stop();
        const run = {
          round, viewers, duration_s: r.duration_s, output_throughput: r.output_throughput,
          request_throughput: r.request_throughput, completed: r.completed, load_before: load,
          summaries: after.cache_tree_summaries_total - before.cache_tree_summaries_total,
          shared: after.cache_tree_shared_total - before.cache_tree_shared_total,
          summary_step_s: after.cache_tree_summary_seconds_total - before.cache_tree_summary_seconds_total,
          tree_calls: vs.reduce((s, v) => s + v.counts.trees, 0),
          events: vs.reduce((s, v) => s + v.counts.events, 0),
          server_cpu_s: cpu, cpu_ms_per_1k_tokens: (1e6 * cpu) / r.output_tokens,
        };
        run.summary_share = run.summary_step_s / run.duration_s;
        result.runs.push(run);
        console.log(`round ${round}, ${viewers} viewers: ${r.output_throughput.toFixed(1)} tok/s over ` +
                    `${r.duration_s.toFixed(1)} s (${r.completed} requests); summaries ${run.summaries}, shared ` +
                    `${run.shared}, step time summarizing ${(100 * run.summary_share).toFixed(2)}%; server CPU ` +
                    `${run.cpu_ms_per_1k_tokens.toFixed(1)} ms per 1k output tokens; load ${load.toFixed(2)}`);
        await sleep(1000);
      }
    }
    const off = result.runs.filter((r) => r.viewers === 0).map((r) => r.output_throughput);
    const on = result.runs.filter((r) => r.viewers > 0).map((r) => r.output_throughput);
    const pairs = [];
    for (let round = 0; round < ROUNDS; ++round) {
      const a = result.runs.find((r) => r.round === round && r.viewers === 0);
      const b = result.runs.find((r) => r.round === round && r.viewers > 0);
      pairs.push(b.output_throughput / a.output_throughput);
    }
    const withViewers = result.runs.filter((r) => r.viewers > 0);
    result.throughput = {
      off_median: median(off), on_median: median(on), ratio_of_medians: median(on) / median(off),
      pair_ratios: pairs,
      summary_share: withViewers.reduce((s, r) => s + r.summary_step_s, 0) /
                     withViewers.reduce((s, r) => s + r.duration_s, 0),
    };
    result.throughput.median_pair_ratio = median(pairs);
    const cpuOff = median(result.runs.filter((r) => r.viewers === 0).map((r) => r.cpu_ms_per_1k_tokens));
    const cpuOn = median(withViewers.map((r) => r.cpu_ms_per_1k_tokens));
    result.cpu = { off_ms_per_1k_tokens: cpuOff, on_ms_per_1k_tokens: cpuOn, ratio: cpuOn / cpuOff };
    console.log(`server CPU per 1k output tokens: ${cpuOn.toFixed(1)} ms with ${VIEWERS} viewers, ` +
                `${cpuOff.toFixed(1)} ms without (ratio ${(cpuOn / cpuOff).toFixed(4)}, medians)`);
    console.log(`throughput: ${VIEWERS} viewers / none = ${result.throughput.ratio_of_medians.toFixed(4)} ` +
                `(medians ${median(on).toFixed(1)} / ${median(off).toFixed(1)} tok/s; pairs ` +
                `${pairs.map((x) => x.toFixed(4)).join(', ')}, median ${median(pairs).toFixed(4)}); summaries took ` +
                `${(100 * result.throughput.summary_share).toFixed(2)}% of the step thread with viewers`);
    if (JSON_OUT) fs.writeFileSync(JSON_OUT, JSON.stringify(result, null, 1));
  } finally {
    proc.kill('SIGTERM');
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
