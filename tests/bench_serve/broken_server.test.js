// `radixlm bench serve` against a deliberately broken server (fake_server.js):
// bad event streams, HTTP errors, stalls, resets, a refused connection. Every
// failure is counted by its kind, the report is still written, the run stays
// within its time bounds, and the tool exits 2 (not every request completed).
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { startFakeServer } = require('./fake_server.js');
const { benchServe, checkConsistent } = require('./bench_lib.js');

const base = ['--prompt-format', 'tokens', '--warmup', '0', '--workload', 'all-unique', '--system-tokens', '8',
              '--max-tokens', '3'];

test('each misbehavior is counted by kind, and the good requests still measured', async () => {
  const behaviors = ['good', 'http500', 'badJson', 'stallMidStream', 'resetMidStream', 'errorEvent', 'noDone',
                     'http429', 'stallBeforeHeaders', 'closeBeforeResponse', 'notSse', 'trickle', 'good'];
  const fake = await startFakeServer(behaviors);
  try {
    const r = await benchServe(fake.url, [...base, '--num-prompts', String(behaviors.length), '--concurrency', '1',
                                          '--timeout', '1']);
    assert.equal(r.code, 2, `${r.stdout}\n${r.stderr}`);
    const rep = r.report;
    checkConsistent(rep);
    assert.deepEqual(rep.failures, {
      connect: 2,           // reset mid-stream, closed before a response
      timeout: 3,           // stalls before and after the headers, the trickle
      http_status: 2,       // 500, 429
      malformed_stream: 3,  // not JSON, no [DONE], not an event stream
      stream_error: 1,      // an error event
      cancelled: 0,
    });
    assert.equal(rep.completed, 2);
    assert.equal(rep.failed, 11);
    const byIndex = rep.per_request;
    assert.equal(byIndex[1].http_status, 500);
    assert.match(byIndex[1].error, /HTTP 500: .*internal failure/);
    assert.match(byIndex[5].error, /engine died/);
    assert.match(byIndex[2].error, /not JSON/);
    assert.match(byIndex[6].error, /without data: \[DONE\]/);
    // The trickle never goes quiet, yet it ends at the request's deadline.
    assert.ok(byIndex[11].e2e_s < 1.5, `trickle ended after ${byIndex[11].e2e_s} s`);
    assert.equal(rep.cached_tokens, 2 * 4, 'usage of the good requests');
    assert.match(r.stdout, /malformed_stream +3/);
    // Three 1-s timeouts, the rest immediate.
    assert.ok(r.ms < 15000, `took ${r.ms} ms`);
  } finally {
    await fake.close();
  }
});

test('concurrent requests to a broken server: counted, nothing crashes', async () => {
  const fake = await startFakeServer(['good', 'http500', 'badJson', 'resetMidStream', 'errorEvent', 'noDone',
                                      'closeBeforeResponse', 'notSse']);
  try {
    const r = await benchServe(fake.url, [...base, '--num-prompts', '64', '--concurrency', '8', '--timeout', '2']);
    assert.equal(r.code, 2, r.stderr);
    checkConsistent(r.report);
    assert.equal(r.report.completed + r.report.failed, 64);
    // One request in 8 is answered 'good'; a connection closed before any
    // response on a reused keep-alive connection is retried once by libcurl,
    // and the retry meets the next behaviour in the rotation (sometimes
    // 'good'): 8 to 16 completed, never fewer.
    assert.ok(r.report.completed >= 8 && r.report.completed <= 16, `completed ${r.report.completed}`);
  } finally {
    await fake.close();
  }
});

test('--max-duration bounds the run: in-flight requests cancelled, the rest not sent', async () => {
  const fake = await startFakeServer(['good', 'stallMidStream']);
  try {
    const r = await benchServe(fake.url, [...base, '--num-prompts', '20', '--concurrency', '2', '--timeout', '60',
                                          '--max-duration', '1']);
    assert.equal(r.code, 2, r.stderr);
    checkConsistent(r.report);
    assert.ok(r.report.failures.cancelled >= 1, JSON.stringify(r.report.failures));
    assert.ok(r.report.not_sent >= 1);
    assert.ok(r.ms < 10000, `took ${r.ms} ms`);
  } finally {
    await fake.close();
  }
});

test('a refused connection is a connect failure; open-loop arrivals too', async () => {
  // A port that was just free: nothing listens there.
  const port = await new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
  const r = await benchServe(`http://127.0.0.1:${port}`, [...base, '--num-prompts', '5', '--request-rate', '100']);
  assert.equal(r.code, 2);
  checkConsistent(r.report);
  assert.equal(r.report.failures.connect, 5);
  assert.match(r.report.failure_examples.connect[0], /cannot connect/);
});

test('auto format against a broken server: the probe fails, the run still reports', async () => {
  const fake = await startFakeServer(['http500']);
  try {
    const r = await benchServe(fake.url, ['--warmup', '1', '--workload', 'all-unique', '--system-tokens', '8',
                                          '--max-tokens', '2', '--num-prompts', '3']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /probe failed/);
    assert.equal(r.report.failures.http_status, 3);
  } finally {
    await fake.close();
  }
});
