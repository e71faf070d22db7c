// A minimal HTTP/1.1 keep-alive client for the closed-loop generator: one socket, one request at a
// time, responses framed by Content-Length or chunked encoding. The generator shares the two cores
// with the server under test, and undici's general-purpose client cost ~75 µs of CPU per request
// here (more than half of what a Redis refresh costs the server), so every closed-loop figure
// measured the generator's appetite as much as the server. This does only what the benchmark
// needs, for every closed-loop scenario alike (the peer's included).
import { connect, type Socket } from 'node:net';

export interface RawResponse {
  status: number;
  body: string;
}

const HEADER_END = Buffer.from('\r\n\r\n');

export class RawHttpConnection {
  private socket: Socket | null = null;
  private buffered: Buffer = Buffer.alloc(0);
  private pending: { ok(r: RawResponse): void; fail(e: Error): void } | null = null;
  private readonly hostHeader: string;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {
    this.hostHeader = `${host}:${port}`;
  }

  static fromOrigin(origin: string): RawHttpConnection {
    const u = new URL(origin);
    if (u.protocol !== 'http:') throw new Error(`only http: origins (${origin})`);
    return new RawHttpConnection(u.hostname.replace(/^\[(.*)\]$/, '$1'), Number(u.port || 80));
  }

  private open(): Promise<Socket> {
    if (this.socket && !this.socket.destroyed) return Promise.resolve(this.socket);
    return new Promise((ok, fail) => {
      const s = connect({ host: this.host, port: this.port, noDelay: true });
      s.once('connect', () => {
        this.socket = s;
        this.buffered = Buffer.alloc(0);
        ok(s);
      });
      s.once('error', fail);
      s.on('data', (chunk: Buffer) => this.onData(chunk));
      s.on('close', () => {
        if (this.socket === s) this.socket = null;
        this.settle(new Error('connection closed before the response ended'));
      });
      s.on('error', (e) => this.settle(e));
    });
  }

  private settle(result: RawResponse | Error): void {
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    if (result instanceof Error) p.fail(result);
    else p.ok(result);
  }

  private onData(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const end = this.buffered.indexOf(HEADER_END);
    if (end < 0) return;
    const head = this.buffered.toString('latin1', 0, end);
    const status = Number(head.slice(9, 12));
    const bodyStart = end + 4;
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (length) {
      const bodyEnd = bodyStart + Number(length[1]);
      if (this.buffered.length < bodyEnd) return;
      const body = this.buffered.toString('utf8', bodyStart, bodyEnd);
      this.buffered = this.buffered.subarray(bodyEnd);
      this.settle({ status, body });
      return;
    }
    if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
      const parts: Buffer[] = [];
      let at = bodyStart;
      for (;;) {
        const eol = this.buffered.indexOf('\r\n', at);
        if (eol < 0) return;
        const size = parseInt(this.buffered.toString('latin1', at, eol), 16);
        if (this.buffered.length < eol + 2 + size + 2) return;
        if (size === 0) {
          this.buffered = this.buffered.subarray(eol + 4);
          this.settle({ status, body: Buffer.concat(parts).toString('utf8') });
          return;
        }
        parts.push(this.buffered.subarray(eol + 2, eol + 2 + size));
        at = eol + 2 + size + 2;
      }
    }
    this.settle(new Error(`response without a length: ${head.split('\r\n')[0]}`));
  }

  async request(method: string, path: string, headers: Record<string, string>, body?: string): Promise<RawResponse> {
    const socket = await this.open();
    if (this.pending) throw new Error('one request at a time');
    let head = `${method} ${path} HTTP/1.1\r\nHost: ${this.hostHeader}\r\n`;
    for (const k in headers) head += `${k}: ${headers[k]}\r\n`;
    if (body !== undefined) head += `Content-Length: ${Buffer.byteLength(body)}\r\n`;
    const done = new Promise<RawResponse>((ok, fail) => (this.pending = { ok, fail }));
    socket.write(body === undefined ? `${head}\r\n` : `${head}\r\n${body}`);
    return done;
  }

  close(): void {
    this.socket?.destroy();
    this.socket = null;
  }
}
