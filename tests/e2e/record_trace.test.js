// `serve --record-trace FILE`: the server's own requests as a hash-block trace
// that `radixlm sim` reads back. Three token-id prompts sharing a 48-token
// prefix (three 16-token pages), one of them sent twice: the file has a line per
// request in arrival order with its lengths, ids shared exactly where the
// prompts agree, no token ids, and sim info's infinite-cache replay finds the
// sharing the server's own cached_tokens showed.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { startServer } = require('./server.js');

test('the recorded trace replays in the simulator with the sharing the server saw', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radixlm-record-'));
  const file = path.join(dir, 'trace.jsonl');
  const server = await startServer(['--record-trace', file, '--page-size', '16']);
  const shared = Array.from({ length: 48 }, (_, i) => 10 + i);
  const prompts = [
    [...shared, 200, 201, 202, 203, 204],
    [...shared, 210, 211, 212, 213, 214, 215, 216, 217, 218, 219, 220, 221, 222, 223, 224, 225, 226],
    [...shared, 200, 201, 202, 203, 204],
  ];
  let cached = 0;
  try {
    for (const prompt of prompts) {
      const r = await server.post('/v1/completions', { prompt, max_tokens: 3, temperature: 0, ignore_eos: true });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.usage.completion_tokens, 3);
      cached += r.json.usage.prompt_tokens_details.cached_tokens;
    }
  } finally {
    assert.equal(await server.stop(), 0, server.output().stderr);
  }
  assert.match(server.output().stdout, /3 requests recorded in/);
  const lines = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 3);
  assert.deepEqual(lines.map((l) => l.input_length), [53, 65, 53]);
  assert.deepEqual(lines.map((l) => l.output_length), [3, 3, 3]);
  for (const l of lines) assert.deepEqual(Object.keys(l).sort(), ['hash_ids', 'input_length', 'output_length', 'timestamp']);
  assert.ok(lines[0].timestamp <= lines[1].timestamp && lines[1].timestamp <= lines[2].timestamp);
  assert.deepEqual(lines[0].hash_ids, [0, 1, 2, 3]);
  assert.deepEqual(lines[1].hash_ids, [0, 1, 2, 4, 5]);
  assert.deepEqual(lines[2].hash_ids, lines[0].hash_ids);
  // The server cached nothing, then the 48 shared tokens, then all of the
  // repeated prompt but its last token (whose logits are needed).
  assert.equal(cached, 0 + 48 + 52);
  const info = JSON.parse(execFileSync(process.env.RADIXLM,
    ['sim', 'info', file, '--block-tokens', '16', '--page-size', '16', '--json'], { encoding: 'utf8' }));
  assert.equal(info.requests, 3);
  assert.equal(info.prompt_tokens, 53 + 65 + 53);
  // The infinite cache finds what the server found, and counts the repeated
  // prompt's last token too (the bound does not subtract it; the simulator's
  // serving replay does).
  assert.equal(Math.round(info.infinite_token_hit_rate * info.prompt_tokens), cached + 1);
  fs.rmSync(dir, { recursive: true, force: true });
});
