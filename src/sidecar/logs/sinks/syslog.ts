// syslog sink: RFC 5424 messages over TCP (octet-counting framing, RFC 6587, so a message keeps
// its newlines) or UDP (one datagram each). TCP: a batch counts as sent once written to a connected socket; a refused or broken
// connection rejects (retried). UDP has no acknowledgement at all.
import dgram from 'node:dgram';
import net from 'node:net';
import type { LogRecord } from '../record.js';
import { syslog5424 } from './encode.js';
import { SinkError, type EncodedBatch, type LogSink, type SinkFeature } from './sink.js';

/** TCP: the framed messages in one body; UDP: one datagram each. */
interface SyslogBatch extends EncodedBatch {
  body?: Buffer;
  datagrams?: Buffer[];
}

export interface SyslogSinkOptions {
  host: string;
  port: number;
  protocol: 'tcp' | 'udp';
  facility: number;
  hostname: string;
  /** SD-ID of the structured-data element with Berth's identity fields (`name@<PEN>`); none by default. */
  sdId?: string;
}

export class SyslogSink implements LogSink {
  readonly type = 'syslog';
  readonly features: readonly SinkFeature[];
  private socket: net.Socket | undefined;
  private udp: dgram.Socket | undefined;

  constructor(
    readonly name: string,
    private readonly opts: SyslogSinkOptions,
  ) {
    this.features = opts.protocol === 'tcp' ? ['ack', 'batch'] : ['batch'];
  }

  send(records: readonly LogRecord[]): Promise<void> {
    return this.sendEncoded(this.encode(records));
  }

  encode(records: readonly LogRecord[]): SyslogBatch {
    if (this.opts.protocol === 'udp') {
      const datagrams = records.map((r) => {
        const m = Buffer.from(syslog5424(r, this.opts.facility, this.opts.hostname, this.opts.sdId));
        return m.length > 65_000 ? m.subarray(0, 65_000) : m;
      });
      return { count: records.length, datagrams };
    }
    let text = '';
    for (const r of records) {
      const m = syslog5424(r, this.opts.facility, this.opts.hostname, this.opts.sdId);
      text += `${Buffer.byteLength(m)} ${m}`;
    }
    return { count: records.length, body: Buffer.from(text) };
  }

  async sendEncoded(batch: EncodedBatch): Promise<void> {
    const b = batch as SyslogBatch;
    if (b.datagrams) return this.sendUdp(b.datagrams);
    const sock = await this.connect();
    await new Promise<void>((resolve, reject) => {
      sock.write(b.body ?? Buffer.alloc(0), (err) => {
        if (err) {
          this.socket?.destroy();
          this.socket = undefined;
          reject(new SinkError(`syslog tcp: ${err.message}`, true));
        } else resolve();
      });
    });
  }

  private connect(): Promise<net.Socket> {
    if (this.socket && !this.socket.destroyed) return Promise.resolve(this.socket);
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: this.opts.host, port: this.opts.port });
      s.setNoDelay(true);
      s.once('connect', () => {
        s.removeAllListeners('error');
        s.on('error', () => {
          if (this.socket === s) this.socket = undefined;
        });
        s.on('close', () => {
          if (this.socket === s) this.socket = undefined;
        });
        this.socket = s;
        resolve(s);
      });
      s.once('error', (e) => reject(new SinkError(`syslog tcp ${this.opts.host}:${this.opts.port}: ${e.message}`, true)));
    });
  }

  private async sendUdp(datagrams: readonly Buffer[]): Promise<void> {
    this.udp ??= dgram.createSocket(this.opts.host.includes(':') ? 'udp6' : 'udp4');
    const sock = this.udp;
    for (const m of datagrams) {
      await new Promise<void>((resolve, reject) => sock.send(m, this.opts.port, this.opts.host, (err) => (err ? reject(new SinkError(`syslog udp: ${err.message}`, true)) : resolve())));
    }
  }

  async close(): Promise<void> {
    this.socket?.end();
    this.socket = undefined;
    this.udp?.close();
    this.udp = undefined;
  }
}
