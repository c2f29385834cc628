// The dashboard of a running `radixlm serve` in headless Chromium (Debian's
// chromium-headless-shell, driven by puppeteer-core): the page loads, live data
// arrives through its event stream, the numbers on the page equal
// /v1/cache/stats, the tree shows the cache's entries with the pages the cache
// holds, a 2,000-row tree redraws in time, and a screenshot is saved under the
// build directory. Then, without a browser, /v1/cache/tree's scoping with API
// keys (a tenant sees its own namespaces, an operator all), its summaries
// shared per scope (/metrics counts them) and its bad input.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const puppeteer = require('puppeteer-core');
const { startServer } = require('../e2e/server.js');

const CHROMIUM = process.env.CHROMIUM || ['/usr/bin/chromium-headless-shell', '/usr/bin/chromium']
  .find((p) => fs.existsSync(p));
const OUT = process.env.RADIXLM_SCREENSHOT_DIR || '.';

async function complete(server, prompt, headers = {}) {
  const r = await server.post('/v1/completions', { prompt, max_tokens: 4, temperature: 0, ignore_eos: true }, headers);
  assert.equal(r.status, 200, r.text);
}

const shared = Array.from({ length: 64 }, (_, i) => 20 + i);

test('the dashboard shows live figures equal to /v1/cache/stats and the tree', async (t) => {
  assert.ok(CHROMIUM, 'chromium-headless-shell not found (scripts/setup.sh installs it)');
  const server = await startServer();
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true,
                                           args: ['--no-sandbox', '--disable-gpu'] });
  try {
    for (let i = 0; i < 6; ++i) await complete(server, [...shared, 100 + i, 110 + i, 150 + 7 * i]);
    const page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 1100 });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const t0 = Date.now();
    await page.goto(server.url + '/dashboard');
    await page.waitForFunction(() => window.radixlmLastEvent && document.querySelectorAll('#tree rect.node').length > 0,
                               { timeout: 20000 });
    const loadMs = Date.now() - t0;
    // Two events: the charts have a point, and nothing moves any more.
    await page.waitForFunction(() => window.radixlmLastEvent && document.querySelector('#chart-hit path'), { timeout: 20000 });
    const stats = await server.json('/v1/cache/stats');
    const shown = await page.evaluate(() => {
      const text = (id) => document.getElementById(id).textContent;
      const num = (id) => Number(text(id).replace(/,/g, ''));
      return {
        total: num('pages-total'), free: num('pages-free'), cached: num('pages-cached'), locked: num('pages-locked'),
        prompt: num('prompt-tokens'), cachedTokens: num('cached-tokens'), hitRate: text('hit-rate'),
        nodes: num('nodes'),
        rootPages: [...document.querySelectorAll('#tree rect.node')]
          .filter((r) => Number(r.getAttribute('y')) === 0).reduce((s, r) => s + Number(r.dataset.pages), 0),
        rects: document.querySelectorAll('#tree rect.node').length,
        tenants: document.querySelectorAll('#tenants tbody tr').length,
      };
    });
    assert.deepEqual(errors, []);
    assert.equal(shown.total, stats.pages.total);
    assert.equal(shown.free, stats.pages.free);
    assert.equal(shown.cached, stats.pages.cached);
    assert.equal(shown.locked, stats.pages.locked);
    assert.equal(shown.prompt, stats.requests.prompt_tokens);
    assert.equal(shown.cachedTokens, stats.requests.cached_prompt_tokens);
    assert.equal(shown.nodes, stats.cache.nodes);
    assert.equal(shown.hitRate, (100 * stats.hit_rate).toFixed(1) + '%');
    assert.ok(stats.requests.cached_prompt_tokens > 0);
    // The shared prefix and its six branches, under one namespace's root.
    assert.ok(shown.rects >= 8, `tree boxes: ${shown.rects}`);
    assert.equal(shown.rootPages, stats.pages.cached + stats.pages.locked);
    assert.equal(shown.tenants, 1);
    // A tree the size the server sends at most: 2,000 rows over 3 namespaces.
    const drawMs = await page.evaluate(() => {
      const rows = [];
      for (let ns = 0; ns < 3; ++ns) {
        rows.push({ parent: -1, ns: 'tenant-' + ns, depth: 0, tokens: 0, own_pages: 0, pages: 0, nodes: 0, hits: 0,
                    locked_pages: 0, idle_s: 1, children: 0, expanded: true });
      }
      for (let i = rows.length; i < 2000; ++i) {
        const parent = i < 30 ? i % 3 : 3 + ((i * 7919) % (i - 3));
        rows.push({ parent, depth: 16 * i, tokens: 16, own_pages: 1, pages: 1, nodes: 1, hits: i % 5, locked_pages: i % 9 === 0 ? 1 : 0,
                    idle_s: i % 100, children: 0, expanded: true });
      }
      for (let i = rows.length - 1; i >= 3; --i) { rows[rows[i].parent].pages += rows[i].pages; rows[rows[i].parent].children += 1; }
      const times = [];
      for (let k = 0; k < 5; ++k) {
        drawTree({ entries: 2000, namespaces: 3, rows });
        times.push(window.radixlmTreeDrawMs);
      }
      times.sort((a, b) => a - b);
      return times[2];
    });
    console.log(`dashboard: first data and tree ${loadMs} ms after navigation; 2,000-row tree drawn in ${drawMs.toFixed(1)} ms (median of 5)`);
    assert.ok(drawMs < 200, `a 2,000-row tree took ${drawMs} ms to draw`);
    // Back to the server's tree, with some traffic for the charts, for the picture.
    for (let i = 0; i < 12; ++i) {
      await complete(server, [...shared, 120 + (i % 4), 130 + i, 140 + (i % 3)]);
      if (i % 4 === 3) await new Promise((r) => setTimeout(r, 1100));
    }
    await page.evaluate(() => refreshTree());
    await new Promise((r) => setTimeout(r, 1500));
    const shot = path.join(OUT, 'dashboard.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(fs.statSync(shot).size > 10000);
    console.log(`dashboard: screenshot ${shot}`);
  } finally {
    await browser.close();
    assert.equal(await server.stop(), 0);
  }
});

test('/v1/cache/tree: a tenant sees its own namespaces, the operator all; bad max_nodes is a 400', async () => {
  const server = await startServer(['--api-key', 'k1', '--api-key', 'k2', '--metrics-api-key', 'op']);
  try {
    const auth = (k) => ({ Authorization: 'Bearer ' + k });
    await complete(server, [...shared, 1, 2, 3], auth('k1'));
    const own = JSON.parse((await server.get('/v1/cache/tree', auth('k1'))).text);
    assert.equal(own.object, 'cache.tree');
    assert.equal(own.namespaces, 1);
    assert.ok(own.rows[0].pages >= 4);
    const other = JSON.parse((await server.get('/v1/cache/tree', auth('k2'))).text);
    assert.equal(other.namespaces, 0);
    assert.deepEqual(other.rows, []);
    const all = JSON.parse((await server.get('/v1/cache/tree?max_nodes=1', auth('op'))).text);
    assert.equal(all.namespaces, 1);
    assert.equal(all.rows.length, 1);
    // Summaries are shared per scope (TreeSummaries): every valid call is
    // either a new summary or an answer from one, whose age goes out.
    const again = JSON.parse((await server.get('/v1/cache/tree', auth('k1'))).text);
    assert.equal(typeof again.age_s, 'number');
    assert.ok(again.age_s >= 0 && again.age_s < 60, `age_s ${again.age_s}`);
    assert.deepEqual(again.rows.map((r) => r.pages), own.rows.map((r) => r.pages));
    const m = await server.metrics(auth('op'));
    assert.ok(m['radixlm:cache_tree_summaries_total'] >= 3, JSON.stringify(m));
    assert.equal(m['radixlm:cache_tree_summaries_total'] + m['radixlm:cache_tree_shared_total'], 4);
    assert.ok(m['radixlm:cache_tree_summary_seconds_total'] > 0);
    assert.equal((await server.get('/v1/cache/tree')).status, 401);
    for (const bad of ['0', '20001', 'x', '1.5', '']) {
      const r = await server.get('/v1/cache/tree?max_nodes=' + bad, auth('k1'));
      assert.equal(r.status, 400, bad);
      assert.equal(JSON.parse(r.text).error.param, 'max_nodes');
    }
    const page = await server.get('/dashboard');
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type'), /text\/html/);
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

test('sim run --html: one page with the runs table and the charts, in the browser', async () => {
  assert.ok(CHROMIUM, 'chromium-headless-shell not found (scripts/setup.sh installs it)');
  const { execFileSync } = require('node:child_process');
  const file = path.join(OUT, 'sim_run.html');
  const json = path.join(OUT, 'sim_run.json');
  execFileSync(process.env.RADIXLM, ['sim', 'run', '--workload', 'chatbot', '--requests', '300', '--policies', 'lru,fifo,oracle',
                                     '--html', file, '--json', json], { stdio: ['ignore', 'ignore', 'inherit'] });
  const runs = JSON.parse(fs.readFileSync(json, 'utf8')).runs;
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1200, height: 900 });
    await page.goto('file://' + path.resolve(file));
    const shown = await page.evaluate(() => ({
      rows: [...document.querySelectorAll('#runs tbody tr')].map((tr) => [...tr.children].map((td) => td.textContent)),
      curves: document.querySelectorAll('.chart svg path, .chart svg polyline').length,
      title: document.title,
    }));
    assert.match(shown.title, /radixlm sim run/);
    assert.equal(shown.rows.length, runs.length);
    // Each row's hit rate is the JSON's, to the four places printed.
    runs.forEach((r, i) => {
      assert.equal(shown.rows[i][0], `${r.policy}/${r.admission}`);
      assert.equal(Number(shown.rows[i][2]), Number(r.token_hit_rate.toFixed(4)));
    });
    assert.ok(shown.curves >= 4, `curves drawn: ${shown.curves}`);
    await page.screenshot({ path: path.join(OUT, 'sim_run.png'), fullPage: true });
  } finally {
    await browser.close();
  }
});
