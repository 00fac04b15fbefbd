// A raw upgrade app for tunnel tests: answers each request head 101, sends `tail` and ends its side
// (a WebSocket server's last messages and close).
import net from 'node:net';

export function endingUpgradeApp(tail: Buffer, host = '127.0.0.1'): Promise<net.Server> {
  const server = net.createServer((s) => {
    let head = '';
    s.on('data', (d: Buffer) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      head = '';
      s.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n');
      s.end(tail);
    });
    s.on('error', () => {});
  });
  return new Promise((r) => server.listen(0, host, () => r(server)));
}
