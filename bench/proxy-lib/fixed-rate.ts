// Fixed-rate (open-loop) load generator for bench/proxy: sends RATE requests per second for SECONDS
// over keep-alive connections, one request per scheduled slot (a 1 ms timer wheel, no bunching into
// batches), and measures each latency from its *scheduled* send time, so a stalled server cannot hide
// its queueing (no coordinated omission). The first WARMUP seconds (argument 4, default 1) are sent at
// the same rate but not measured: they time the generator's own start (new connections, its http
// client not yet optimised), which in a 5 s run made up most of the slowest 1 % in every setup alike.
// Prints one JSON line: { sent, ok, errors, warmupSeconds, p50Ms, p99Ms } (sent/ok/errors count the
// warm-up's requests too: an error is never hidden).
import http from 'node:http';

const [url, rateArg, secondsArg, warmupArg] = process.argv.slice(2);
const rate = Number(rateArg ?? 1000);
const seconds = Number(secondsArg ?? 5);
const warmupSeconds = Number(warmupArg ?? 1);
const target = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const latencies: number[] = [];
let sent = 0;
let ok = 0;
let errors = 0;
let done = 0;
const warmup = Math.round(rate * warmupSeconds);
const total = warmup + Math.round(rate * seconds);
const interval = 1000 / rate;
const start = performance.now() + 50;

function fire(scheduled: number): void {
  const measured = sent++ >= warmup;
  const req = http.request({ host: target.hostname, port: target.port, path: target.pathname, agent }, (res) => {
    res.on('data', () => {});
    res.on('end', () => {
      if (res.statusCode === 200) ok++;
      else errors++;
      if (measured) latencies.push(performance.now() - scheduled);
      finish();
    });
  });
  req.on('error', () => {
    errors++;
    finish();
  });
  req.end();
}

function finish(): void {
  if (++done < total) return;
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  process.stdout.write(JSON.stringify({ sent, ok, errors, warmupSeconds, p50Ms: +q(0.5).toFixed(3), p99Ms: +q(0.99).toFixed(3) }) + '\n');
  agent.destroy();
}

function tick(): void {
  const now = performance.now();
  while (sent < total && start + sent * interval <= now) fire(start + sent * interval);
  if (sent < total) setTimeout(tick, 1);
}
setTimeout(tick, 50);
