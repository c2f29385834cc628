// serve --admission: which prompts the prefix cache keeps. second-hit caches a
// prompt's full pages once a second request has produced them (a request's own
// chunks count once); min-length caches only sequences of at least
// --admission-min-tokens tokens; bad names and thresholds stop the server at
// start-up with a message naming the flag.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer, client } = require('./server.js');

const PROMPT = 'Every request in this test sends the same prompt, long enough to fill a few pages. ';

async function cachedTokens(c, prompt = PROMPT) {
  const r = await c.completions.create({ model: 'tiny-llama', prompt, max_tokens: 2 });
  return r.usage.prompt_tokens_details.cached_tokens;
}

test('second-hit caches a prompt once a second request produces it', async () => {
  const server = await startServer(['--admission', 'second-hit']);
  try {
    assert.match(server.output().stdout + server.output().stderr, /admission second-hit/);
    const c = client(server);
    assert.equal(await cachedTokens(c), 0);  // first sighting: nothing kept
    assert.equal(await cachedTokens(c), 0);  // the second request's insert admits it
    const third = await cachedTokens(c);
    assert.ok(third > 0 && third <= PROMPT.length, `third request: ${third} cached tokens`);
  } finally {
    await server.stop();
  }
});

test('min-length skips sequences shorter than the threshold', async () => {
  const server = await startServer(['--admission', 'min-length', '--admission-min-tokens', '100000']);
  try {
    const c = client(server);
    assert.equal(await cachedTokens(c), 0);
    assert.equal(await cachedTokens(c), 0);  // never long enough to cache
  } finally {
    await server.stop();
  }
  const all = await startServer([]);  // the default, all, for contrast
  try {
    const c = client(all);
    assert.equal(await cachedTokens(c), 0);
    assert.ok(await cachedTokens(c) > 0);
  } finally {
    await all.stop();
  }
});

test('bad admission flags stop the server at start-up', async () => {
  for (const [args, message] of [
    [['--admission', 'third-hit'], /--admission: unknown admission policy 'third-hit' \(known: all, second-hit, min-length\)/],
    [['--admission', 'all', '--admission-min-tokens', '5'], /--admission-min-tokens applies to --admission min-length only/],
    [['--eviction-policy', 'mru'], /--eviction-policy: unknown eviction policy 'mru'/],
  ]) {
    await assert.rejects(startServer(args), (e) => message.test(e.message), args.join(' '));
  }
});
