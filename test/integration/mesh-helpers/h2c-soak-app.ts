// The soak's h2c app (`protocol: h2c`) as a process of its own: `node h2c-soak-app.js <port>`. It runs
// body-soak's app side on a node:http2 server, prints `listening` once it accepts and `delivered <id>`
// for each request, so the test counts deliveries; a crash of the app's HTTP/2 stack shows up as this
// process exiting, with its stderr, instead of taking the test runner down with it.
import http2 from 'node:http2';
import { soakApp } from './body-soak.js';

/** A delivery count that also tells the parent process. */
class ReportedDeliveries extends Map<string, number> {
  override set(id: string, n: number): this {
    process.stdout.write(`delivered ${id}\n`);
    return super.set(id, n);
  }
}

const port = Number(process.argv[2]);
const server = http2.createServer(soakApp(new ReportedDeliveries()));
server.listen(port, '127.0.0.1', () => process.stdout.write('listening\n'));
// The test holds our stdin open: when it closes (the test process ended, however), so do we.
process.stdin.resume();
process.stdin.once('close', () => process.exit(0));
