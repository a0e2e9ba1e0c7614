// The other processes of the burst bench (burst.ts), each run as its own process so its CPU can be
// read apart: `node floor.js upstream` is a model API streaming CHUNKS pieces CHUNK_GAP_MS apart;
// `node floor.js bare <port>` is the floor, a bare Node proxy that forwards a request to that model
// API and pipes its event stream back, and does nothing else; `node floor.js instant` is a model API
// answering at once (peer.ts). Each prints {"port": n} when it listens.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

// BURST_CHUNKS: another count, to measure what one chunk costs.
export const CHUNKS = Number(process.env.BURST_CHUNKS ?? 40);
export const CHUNK_GAP_MS = Number(process.env.BURST_GAP_MS ?? 50);
/** The answer's pieces: " ans0", " ans1", ...; the first one marks the first answer text. */
export const piece = (i: number) => ` ans${i}`;
export const USAGE = { prompt_tokens: 12, completion_tokens: CHUNKS * 2, total_tokens: 12 + CHUNKS * 2 };

function upstream(): http.Server {
  return http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (p: Buffer) => parts.push(p));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(parts).toString('utf8') || '{}') as { model?: string; stream_options?: { include_usage?: boolean } };
      const chunk = (choices: unknown[], extra = {}) => `data: ${JSON.stringify({ id: 'burst', object: 'chat.completion.chunk', created: 0, model: body.model, choices, ...extra })}\n\n`;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]));
      let i = 0;
      const next = setInterval(() => {
        if (res.destroyed) return clearInterval(next);
        if (i < CHUNKS) return void res.write(chunk([{ index: 0, delta: { content: piece(i++) }, finish_reason: null }]));
        clearInterval(next);
        res.write(chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]));
        if (body.stream_options?.include_usage) res.write(chunk([], { usage: USAGE }));
        res.end('data: [DONE]\n\n');
      }, CHUNK_GAP_MS);
    });
  });
}

/** A model API answering at once (the /v1 benches): five chunks (and usage when asked), or the same as one JSON. */
export function instantUpstream(): http.Server {
  const words = ['Hello', ' there', ',', ' friend', '.'];
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (p: Buffer) => parts.push(p));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(parts).toString('utf8') || '{}') as { stream?: boolean; stream_options?: { include_usage?: boolean } };
      const usage = { prompt_tokens: 14, completion_tokens: 5, total_tokens: 19 };
      if (!body.stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ id: 'x', object: 'chat.completion', created: 0, model: 'gpt-4o-mini', choices: [{ index: 0, message: { role: 'assistant', content: words.join('') }, finish_reason: 'stop' }], usage }));
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (choices: unknown[], extra = {}) => `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 0, model: 'gpt-4o-mini', choices, ...extra })}\n\n`;
      let out = chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]);
      for (const w of words) out += chunk([{ index: 0, delta: { content: w }, finish_reason: null }]);
      out += chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]);
      if (body.stream_options?.include_usage) out += chunk([], { usage });
      res.end(`${out}data: [DONE]\n\n`);
    });
  });
  return server;
}

/** The floor: a few lines that forward the request and pipe the answer back. */
export function bareProxy(upstreamPort: number): http.Server {
  const agent = new http.Agent({ keepAlive: true });
  return http.createServer((req, res) => {
    const out = http.request({ host: '127.0.0.1', port: upstreamPort, path: req.url, method: req.method, headers: req.headers, agent }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
}

if (require.main === module) {
  const [role, port] = process.argv.slice(2);
  const server = role === 'bare' ? bareProxy(Number(port)) : role === 'instant' ? instantUpstream() : upstream();
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: (server.address() as AddressInfo).port })));
  process.on('SIGTERM', () => process.exit(0));
}
