// A fault-injecting HTTP proxy for tests, on 127.0.0.1 between a client and a real server. It
// forwards every request; for a share of `/auth/token` requests it lets the server PROCESS the
// request (the whole answer is read from the server) and then loses the answer on the way back:
// half the time the client's socket is destroyed, half the time it gets a 502 as from a gateway.
// Besides: `offline` (every connection refused, or stalled and then dropped, for a period) and
// pass-through (loss rate 0). Which requests lose their answer follows a seeded generator, so a run
// can be repeated exactly. With several upstreams (`targets`) it is also a small round-robin load
// balancer: each request goes to the next upstream; one that refuses the connection is skipped for
// `failTimeoutMs` and the request goes to the next one (nginx's `proxy_next_upstream error` with
// `max_fails=1`). A request that reached an upstream which then died is sent on again only if its
// method is idempotent (GET, HEAD): a POST may have been processed, so it gets a 502, as behind nginx.
import { createServer, request as httpRequest, Agent, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export type LossForm = 'socket' | '502';

export interface FaultProxyOptions {
  /** Where requests go, e.g. `http://127.0.0.1:4000`; several: round-robin. Can be changed later (`target`, `targets`). */
  target: string | string[];
  /** How long an upstream that failed a connection is skipped (while another is left). Default 1000 ms. */
  failTimeoutMs?: number;
  /** Share (0..1) of `/auth/token` answers lost after the server processed them. Default 0. */
  tokenLossRate?: number;
  /** Seed of the generator that picks the lost answers and their form. Default 1. */
  seed?: number;
  /** Port to listen on; default any free one. */
  port?: number;
}

export interface FaultProxyStats {
  /** `/auth/token` requests the server answered (whether or not the client got the answer). */
  tokenAnswered: number;
  lost: { socket: number; '502': number };
  /** Requests refused or dropped while offline. */
  refusedOffline: number;
  /** Requests the server could not be reached for (answered 502 by the proxy). */
  upstreamDown: number;
  forwarded: number;
  /** Per upstream URL: requests it answered, and `/auth/token` ones among them. */
  byUpstream: Record<string, { forwarded: number; tokenAnswered: number }>;
  /** Requests sent on to another upstream after one failed them. */
  failovers: number;
}

/** mulberry32: small, fast, good enough to pick faults reproducibly. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'content-length']);

export class FaultProxy {
  url = '';
  port = 0;
  tokenLossRate: number;
  failTimeoutMs: number;
  /** Called once a request has been sent to an upstream, before its answer (e.g. to kill that upstream mid-request). */
  onSent: ((upstream: string, path: string) => void) | undefined;
  readonly stats: FaultProxyStats = { tokenAnswered: 0, lost: { socket: 0, '502': 0 }, refusedOffline: 0, upstreamDown: 0, forwarded: 0, byUpstream: {}, failovers: 0 };
  /** When each lost answer was lost (ms since the epoch), how, from which upstream and what it was (its status). */
  readonly losses: { at: number; form: LossForm; upstream: string; status: number }[] = [];

  #targets: string[] = [];
  #next = 0;
  /** Upstream URL → until when it is skipped. */
  readonly #downUntil = new Map<string, number>();

  readonly #random: () => number;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 64 });
  #forced: { form: LossForm; then: (() => void) | undefined; status: number | undefined }[] = [];
  #offline: { until: number; mode: 'refuse' | 'stall' } | null = null;
  #stalled = new Set<ServerResponse>();
  #offlineTimer: NodeJS.Timeout | undefined;

  private constructor(options: FaultProxyOptions) {
    this.targets = typeof options.target === 'string' ? [options.target] : options.target;
    this.failTimeoutMs = options.failTimeoutMs ?? 1_000;
    this.tokenLossRate = options.tokenLossRate ?? 0;
    this.#random = seededRandom(options.seed ?? 1);
    this.#server = createServer((req, res) => void this.#handle(req, res));
    this.#server.keepAliveTimeout = 5_000;
    this.#server.on('connection', (socket: Socket) => {
      if (this.#offline?.mode === 'refuse') {
        this.stats.refusedOffline++;
        socket.destroy();
        return;
      }
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
  }

  get target(): string {
    return this.#targets[0] ?? '';
  }

  set target(url: string) {
    this.targets = [url];
  }

  get targets(): string[] {
    return [...this.#targets];
  }

  set targets(urls: string[]) {
    this.#targets = urls.map((u) => u.replace(/\/+$/, ''));
    this.#downUntil.clear();
  }

  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const proxy = new FaultProxy(options);
    await new Promise<void>((resolve, reject) => {
      proxy.#server.once('error', reject);
      proxy.#server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
    });
    proxy.port = (proxy.#server.address() as AddressInfo).port;
    proxy.url = `http://127.0.0.1:${proxy.port}`;
    return proxy;
  }

  /**
   * The next `count` `/auth/token` answers are lost (after the server processed them), in this
   * form; `then` runs as the last of them is lost (e.g. to go offline at that very moment).
   * With `status`, only answers of that status count (200: a rotation, not a DPoP nonce challenge).
   */
  loseNext(count = 1, form: LossForm = 'socket', then?: () => void, status?: number): void {
    for (let i = 0; i < count; i++) this.#forced.push({ form, then: i === count - 1 ? then : undefined, status });
  }

  /**
   * For `ms`, the network is gone: `refuse` destroys every connection at once (and those open
   * now), `stall` accepts requests and never answers them, dropping them when the period ends.
   */
  goOffline(ms: number, mode: 'refuse' | 'stall' = 'refuse'): void {
    this.#offline = { until: Date.now() + ms, mode };
    if (mode === 'refuse') for (const socket of this.#sockets) socket.destroy();
    clearTimeout(this.#offlineTimer);
    this.#offlineTimer = setTimeout(() => this.goOnline(), ms);
  }

  goOnline(): void {
    clearTimeout(this.#offlineTimer);
    this.#offline = null;
    for (const res of this.#stalled) res.socket?.destroy();
    this.#stalled.clear();
  }

  get offline(): boolean {
    return this.#offline !== null;
  }

  async close(): Promise<void> {
    this.goOnline();
    for (const socket of this.#sockets) socket.destroy();
    this.#agent.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readAll(req).catch(() => null);
    if (body === null) return;
    if (this.#offline) {
      this.stats.refusedOffline++;
      if (this.#offline.mode === 'refuse') res.socket?.destroy();
      else this.#stalled.add(res);
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    const isToken = path === '/auth/token';
    let answer: { status: number; headers: Record<string, string | string[]>; body: Buffer } | null = null;
    let upstream = '';
    const idempotent = req.method === 'GET' || req.method === 'HEAD';
    const candidates = this.#order();
    for (const [i, candidate] of candidates.entries()) {
      try {
        answer = await this.#forward(candidate, req, body);
        upstream = candidate;
        break;
      } catch (error) {
        this.#downUntil.set(candidate, Date.now() + this.failTimeoutMs);
        // A refused connection never reached the upstream: any request may go elsewhere.
        const neverSent = (error as NodeJS.ErrnoException).code === 'ECONNREFUSED';
        if (!neverSent && !idempotent) break;
        if (i < candidates.length - 1) this.stats.failovers++;
      }
    }
    if (answer === null) {
      // What a load balancer says when its backend is gone.
      this.stats.upstreamDown++;
      if (!res.destroyed) res.writeHead(502, { 'content-type': 'text/html' }).end('<html><body>502 Bad Gateway</body></html>');
      return;
    }
    this.stats.forwarded++;
    const mine = (this.stats.byUpstream[upstream] ??= { forwarded: 0, tokenAnswered: 0 });
    mine.forwarded++;
    if (isToken) {
      this.stats.tokenAnswered++;
      mine.tokenAnswered++;
      const next = this.#forced[0];
      const forced = next && (next.status === undefined || next.status === answer.status) ? this.#forced.shift() : undefined;
      const loss = forced ? forced.form : this.#pick();
      if (loss !== null) {
        this.stats.lost[loss]++;
        this.losses.push({ at: Date.now(), form: loss, upstream, status: answer.status });
        const then = () => forced?.then?.();
        if (loss === 'socket') {
          res.socket?.destroy();
          then();
        } else {
          res.writeHead(502, { 'content-type': 'text/html' }).end('<html><body>502 Bad Gateway</body></html>', then);
        }
        return;
      }
    }
    if (res.destroyed) return;
    res.writeHead(answer.status, { ...answer.headers, 'content-length': String(answer.body.length) });
    res.end(answer.body);
  }

  /** Two draws per token answer, whatever the rate, so a run's faults depend only on the seed and the request order. */
  #pick(): LossForm | null {
    const lose = this.#random() < this.tokenLossRate;
    const form: LossForm = this.#random() < 0.5 ? 'socket' : '502';
    return lose ? form : null;
  }

  /** Every upstream once, from the next in turn: those not failed lately first, then the rest. */
  #order(): string[] {
    const n = this.#targets.length;
    const start = this.#next++ % Math.max(n, 1);
    const turn = [...this.#targets.slice(start), ...this.#targets.slice(0, start)];
    const now = Date.now();
    const up = turn.filter((u) => (this.#downUntil.get(u) ?? 0) <= now);
    return [...up, ...turn.filter((u) => !up.includes(u))];
  }

  #forward(to: string, req: IncomingMessage, body: Buffer): Promise<{ status: number; headers: Record<string, string | string[]>; body: Buffer }> {
    const target = new URL(to);
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
    }
    headers['content-length'] = String(body.length);
    return new Promise((resolve, reject) => {
      const upstream = httpRequest(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent: this.#agent },
        (answer) => {
          readAll(answer).then((data) => {
            const out: Record<string, string | string[]> = {};
            for (const [name, value] of Object.entries(answer.headers)) {
              if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
            }
            resolve({ status: answer.statusCode ?? 502, headers: out, body: data });
          }, reject);
        },
      );
      upstream.on('error', reject);
      upstream.end(body, () => this.onSent?.(to, (req.url ?? '/').split('?')[0]!));
    });
  }
}

function readAll(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
    stream.on('aborted', () => reject(new Error('aborted')));
  });
}
