// audit: a tiny user sidecar of orders; prints a heartbeat every 5 s and exits cleanly on SIGTERM.
const who = `${process.env.BERTH_SERVICE ?? 'orders'}/${process.env.BERTH_INSTANCE ?? 'local'}`;
let beats = 0;

console.log(`audit sidecar started beside ${who} (pid ${process.pid})`);
const timer = setInterval(() => console.log(`audit heartbeat #${++beats} for ${who}`), 5000);

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    clearInterval(timer);
    console.log(`audit sidecar received ${signal}, exiting after ${beats} heartbeats`);
    process.exit(0);
  });
}
