// A deliberately broken OpenAI-compatible server for `radixlm bench serve`'s
// robustness tests: the k-th POST gets behaviors[k % behaviors.length], so a
// run at concurrency 1 meets each misbehavior in turn. Node's http module only.
'use strict';
const http = require('node:http');

function chunk(text, extra = {}) {
  return `data: ${JSON.stringify({ id: 'x', object: 'text_completion', choices: [{ index: 0, text, logprobs: null, finish_reason: null }], ...extra })}\n\n`;
}
const usage = (n) => `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 10, completion_tokens: n, prompt_tokens_details: { cached_tokens: 4 } } })}\n\n`;

// Each behavior gets (req, res) after the body was read.
const BEHAVIORS = {
  // A well-formed stream: 3 tokens, usage, [DONE].
  good(req, res) {
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.write(chunk('a'));
    res.write(chunk('b'));
    res.write(chunk('c'));
    res.end(usage(3) + 'data: [DONE]\n\n');
  },
  http500(req, res) {
    res.writeHead(500, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ error: { message: 'internal failure', type: 'server_error' } }));
  },
  http429(req, res) {
    res.writeHead(429, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ error: { message: 'slow down', type: 'rate_limit' } }));
  },
  // An event whose data is not JSON.
  badJson(req, res) {
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.write(chunk('a'));
    res.end('data: {"choices": [{"text": "b"\n\ndata: [DONE]\n\n');
  },
  // Tokens, then the stream just ends.
  noDone(req, res) {
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.write(chunk('a'));
    res.end(chunk('b'));
  },
  // A non-streamed JSON answer where a stream was asked for.
  notSse(req, res) {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ choices: [{ text: 'abc' }], usage: { prompt_tokens: 10, completion_tokens: 3 } }));
  },
  // The server reports an error inside the stream.
  errorEvent(req, res) {
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.write(chunk('a'));
    res.end('data: {"error": {"message": "engine died", "type": "server_error"}}\n\ndata: [DONE]\n\n');
  },
  // Headers and one token, then silence (the request times out).
  stallMidStream(req, res) {
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.write(chunk('a'));
  },
  // No response at all.
  stallBeforeHeaders() {},
  // The connection is reset after a token.
  resetMidStream(req, res) {
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.write(chunk('a'), () => setTimeout(() => req.socket.destroy(), 20));
  },
  // The connection is closed before any response.
  closeBeforeResponse(req) {
    req.socket.destroy();
  },
  // Bytes keep trickling (a comment every 100 ms), never an answer: only a
  // whole-request deadline ends it.
  trickle(req, res) {
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    const timer = setInterval(() => res.write(': keep-alive\n'), 100);
    res.on('close', () => clearInterval(timer));
  },
};

// Starts the server on 127.0.0.1 on a free port; resolves to
// { url, counts, close() }. `behaviors` names entries of BEHAVIORS.
function startFakeServer(behaviors) {
  const counts = {};
  let k = 0;
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      const name = req.method === 'POST' ? behaviors[k++ % behaviors.length] : 'good';
      counts[name] = (counts[name] || 0) + 1;
      BEHAVIORS[name](req, res, body);
    });
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        counts,
        close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(r); }),
      });
    });
  });
}

module.exports = { startFakeServer, BEHAVIORS };
