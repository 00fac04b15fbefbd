// TCP probe: success when a connection to host:port is established.
import net from 'node:net';
import type { Probe, ProbeCheckOptions, ProbeResult } from './probe.js';
import { errorMessage, timeoutSignal } from './probe.js';

export class TcpProbe implements Probe {
  readonly kind = 'tcp';
  constructor(private readonly target: { host: string; port: number }) {}

  check(options: ProbeCheckOptions): Promise<ProbeResult> {
    const timer = timeoutSignal(options);
    return new Promise<ProbeResult>((resolve) => {
      let settled = false;
      const socket = net.connect({ host: this.target.host, port: this.target.port });
      const finish = (result: ProbeResult): void => {
        if (settled) return;
        settled = true;
        timer.done();
        socket.destroy();
        resolve(result);
      };
      socket.once('connect', () => finish({ ok: true, message: 'connected' }));
      socket.once('error', (err) => finish({ ok: false, message: errorMessage(err) }));
      timer.signal.addEventListener('abort', () => finish({ ok: false, message: errorMessage(timer.signal.reason) }), { once: true });
    });
  }
}
