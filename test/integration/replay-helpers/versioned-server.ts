// A small real HTTP service in two versions for replay tests: v2 changes the price of item 3.
// Every answer carries a timestamp and a request id (what differs between two runs of the same
// code). The page reads every answer's body: Chromium puts a body in the HAR only once the page has
// read it, so an unread one may be missing (and then is not compared). Counts writes and notes arrival times at /__stats. Prints its port on stdout.
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';

const version = process.argv[2] ?? 'v1';

/**
 * The answer's time with six more fraction digits past the millisecond (ISO 8601 allows any number). Noise is
 * learnt where the reference and the baseline answer differ; at millisecond precision two processes
 * answering one request at once often agree (a CI run: all four of an endpoint's pairs did), and
 * the candidate's time then passed for a change.
 */
function stamp(): string {
  const ms = performance.timeOrigin + performance.now();
  const whole = Math.floor(ms);
  const nanos = String(Math.floor((ms - whole) * 1e6)).padStart(6, '0');
  return new Date(whole).toISOString().replace('Z', `${nanos}Z`);
}
let writes = 0;
const arrivals: number[] = [];

const page = `<!doctype html><title>shop</title><h1>shop</h1><script>
(async () => {
  for (const i of [1, 2, 3, 4]) await (await fetch('/api/items/' + i)).text();
  await (await fetch('/api/search?q=mug')).text();
  await (await fetch('/api/orders', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sku: 'mug', qty: 1 }) })).text();
  document.title = 'done';
})();
</script>`;

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname === '/__stats') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ writes, arrivals }));
    return;
  }
  if (url.pathname === '/__reset') {
    writes = 0;
    arrivals.length = 0;
    res.end();
    return;
  }
  arrivals.push(performance.now());
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    if (req.method !== 'GET' && req.method !== 'HEAD') writes++;
    if (url.pathname === '/') {
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(page);
      return;
    }
    const m = /^\/api\/items\/(\d+)$/.exec(url.pathname);
    const body = m
      ? { id: Number(m[1]), name: `item ${m[1]}`, price: version === 'v2' && m[1] === '3' ? 45 : 10 * Number(m[1]), at: stamp(), requestId: randomUUID() }
      : url.pathname === '/api/search'
        ? { q: url.searchParams.get('q'), results: [{ id: 1 }, { id: 2 }], at: stamp() }
        : url.pathname === '/api/orders'
          ? { ok: true, echo: Buffer.concat(chunks).toString(), at: stamp() }
          : undefined;
    res.statusCode = body ? 200 : 404;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(body ?? { error: 'not found', path: url.pathname }));
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as { port: number }).port}\n`));
process.on('SIGTERM', () => process.exit(0));
