// A keep-alive http.Agent for tests that send many requests through Berth's listeners. Such a
// listener closes a connection idle for 5 s (node:http's keepAliveTimeout); node's Agent does not
// send a request again when the reused connection it picked was being closed at that instant (it
// reports `socket hang up` / ECONNRESET, where Envoy and undici retry an idempotent request), and with
// its default LIFO scheduling the sockets at the bottom of its free list do sit idle that long under
// a steady rate, until a burst takes them. So: free sockets are dropped by the client after 4 s, and
// taken in turn (FIFO).
import http from 'node:http';

export function keepAliveAgent(maxSockets: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets, scheduling: 'fifo', timeout: 4000 });
}
