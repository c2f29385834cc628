// Starts `radixlm serve --port 0` on 127.0.0.1 for a test file, waits for its
// "listening on" line, and stops it with SIGTERM. Environment (set by run.sh):
// RADIXLM (the binary) and RADIXLM_MODEL (a model directory); optionally
// RADIXLM_TEST_DEVICE=cuda, which runs every server on the CUDA backend
// (default cpu), so the same tests check `serve --device cuda`.
'use strict';
const { spawn } = require('node:child_process');
const assert = require('node:assert/strict');

const RADIXLM = process.env.RADIXLM;
const MODEL = process.env.RADIXLM_MODEL;
if (!RADIXLM || !MODEL) throw new Error('RADIXLM and RADIXLM_MODEL must be set (tests/e2e/run.sh sets them)');
const DEVICE = process.env.RADIXLM_TEST_DEVICE || 'cpu';
if (!['cpu', 'cuda'].includes(DEVICE)) throw new Error(`RADIXLM_TEST_DEVICE=${DEVICE}: use cpu or cuda`);

// The device flags for a server started with `args`. On the GPU a pool sized by
// --gpu-memory-fraction would take most of the GPU's memory, and several
// servers of one test run at once: a server given no pool size gets 512 MiB,
// the pages the CPU's default of 1 GiB gives (BF16 K/V are half of F32's).
function deviceArgs(args) {
  if (DEVICE === 'cpu') return [];
  const sized = args.includes('--kv-pages') || args.includes('--kv-memory');
  return ['--device', 'cuda', ...(sized ? [] : ['--kv-memory', '512MiB'])];
}

// `model`: a model directory other than RADIXLM_MODEL.
async function startServer(args = [], { startupMs = 30000, model = MODEL } = {}) {
  const proc = spawn(RADIXLM, ['serve', '--model', model, '--host', '127.0.0.1', '--port', '0', '--threads', '1',
                               ...deviceArgs(args), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line in ${startupMs} ms:\n${stdout}\n${stderr}`)),
                             startupMs);
    proc.stdout.on('data', (d) => {
      stdout += d;
      const m = stdout.match(/radixlm serve: listening on (http:\/\/[\d.]+:\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    exited.then(({ code }) => { clearTimeout(timer); reject(new Error(`server exited (${code}):\n${stdout}\n${stderr}`)); });
  });
  const server = {
    url,
    proc,
    exited,
    output: () => ({ stdout, stderr }),
    // SIGTERM; resolves to the exit code.
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const { code, signal } = await exited;
      return code === null ? signal : code;
    },
    async get(path, headers = {}) {
      const res = await fetch(url + path, { headers });
      return { status: res.status, headers: res.headers, text: await res.text() };
    },
    async json(path, headers = {}) {
      const r = await server.get(path, headers);
      assert.equal(r.status, 200, `${path}: ${r.text}`);
      return JSON.parse(r.text);
    },
    async post(path, body, headers = {}) {
      const res = await fetch(url + path, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      let json = null;
      try { json = JSON.parse(text); } catch { /* not JSON */ }
      return { status: res.status, headers: res.headers, text, json };
    },
    // Prometheus samples by name and labels: {'radixlm:x{a="b"}': 3}.
    async metrics(headers = {}) {
      const r = await server.get('/metrics', headers);
      assert.equal(r.status, 200);
      const samples = {};
      for (const line of r.text.split('\n')) {
        if (!line || line.startsWith('#')) continue;
        const i = line.lastIndexOf(' ');
        samples[line.slice(0, i).replace(/model_name="[^"]*",?/, '').replace('{}', '')] = Number(line.slice(i + 1));
      }
      return samples;
    },
  };
  return server;
}

// The OpenAI client pointed at a server.
function client(server, apiKey = 'none') {
  const OpenAI = require('openai');
  return new OpenAI({ baseURL: server.url + '/v1', apiKey, maxRetries: 0, timeout: 60000 });
}

// Waits until `probe()` is truthy (bounded), for state that settles after a response.
async function eventually(probe, { timeoutMs = 10000, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

module.exports = { startServer, client, eventually, MODEL, DEVICE };
