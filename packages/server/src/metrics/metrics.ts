// What Latchkey counts, behind an interface the use cases call, so auth/ knows nothing of
// Prometheus and a server without a management listener pays nothing (noopMetrics). Names and
// labels follow Prometheus conventions (`latchkey_…_total` counters, `_seconds` histograms, base
// units); no label ever holds a user id, session id, email or token: label values come from
// small fixed sets, so the number of series stays bounded whatever callers send.
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { CounterFamily, HistogramFamily } from './series.js';

export type RefreshOutcome = 'rotate' | 'grace' | 'reuse' | 'expired' | 'forged' | 'wrong_client' | 'ended' | 'future' | 'key_mismatch' | 'dpop_refused';
export type LoginOutcome = 'ok' | 'failed' | 'throttled';
export type SignupOutcome = 'ok' | 'taken' | 'throttled';

export interface Metrics {
  readonly enabled: boolean;
  refresh(outcome: RefreshOutcome): void;
  login(outcome: LoginOutcome): void;
  signup(outcome: SignupOutcome): void;
  /** One HTTP request done: the route pattern (never the raw path), method and status. */
  request(route: string, method: string, status: number, seconds: number): void;
  /** A store call done; `ok` false when it threw. */
  storeCall(store: string, operation: string, seconds: number, ok: boolean): void;
  /** A password hash or verification started; call the result when it ends. */
  passwordHashStarted(): () => void;
  /** A revocation arrived over the feed, `lagSeconds` after it was made. */
  revocationReceived(lagSeconds: number): void;
  /** The feed (re)subscribed: anything missed while it was down was reloaded. */
  revocationResync(): void;
  /** Gauges read at scrape time. */
  setSampler(sampler: Sampler): void;
}

export interface Sampler {
  revokedSessions(): number;
  /** Whether each store answers its health check now. */
  storesUp(): Promise<Array<{ name: string; ok: boolean }>>;
}

const NOOP = () => {};

export const noopMetrics: Metrics = {
  enabled: false,
  refresh: NOOP,
  login: NOOP,
  signup: NOOP,
  request: NOOP,
  storeCall: NOOP,
  passwordHashStarted: () => NOOP,
  revocationReceived: NOOP,
  revocationResync: NOOP,
  setSampler: NOOP,
};

/** Seconds, from 0.5 ms (a cached token) to 10 s (a store timing out). */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const LAG_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30];

export interface PrometheusMetrics extends Metrics {
  /** The whole exposition, Prometheus text format 0.0.4. */
  scrape(): Promise<string>;
  readonly contentType: string;
}

export function prometheusMetrics(): PrometheusMetrics {
  // prom-client for the process and runtime metrics (event-loop delay among them:
  // nodejs_eventloop_lag_*) and for gauges read at scrape time; ./series.ts for what changes on
  // every request.
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
  const registers = [registry];

  const requests = new CounterFamily('latchkey_http_requests_total', 'HTTP requests by route pattern, method and status', ['route', 'method', 'status']);
  const durations = new HistogramFamily('latchkey_http_request_duration_seconds', 'HTTP request duration by route pattern and method', ['route', 'method'], LATENCY_BUCKETS);
  const refreshes = new CounterFamily('latchkey_refresh_total', 'Refresh-token requests by outcome (reuse: a spent token replayed, the session revoked)', ['outcome']);
  const logins = new CounterFamily('latchkey_login_total', 'Login attempts by outcome', ['outcome']);
  const signups = new CounterFamily('latchkey_signup_total', 'Sign-ups by outcome', ['outcome']);
  const storeCalls = new HistogramFamily('latchkey_store_operation_duration_seconds', 'Store round trips by store, operation and result', ['store', 'operation', 'result'], LATENCY_BUCKETS);
  const lag = new HistogramFamily('latchkey_revocation_feed_lag_seconds', 'Time from a revocation being made to this instance receiving it over the feed', [], LAG_BUCKETS);
  const resyncs = new CounterFamily('latchkey_revocation_feed_resyncs_total', 'Times the revocation feed (re)subscribed and reloaded what it may have missed', []);
  const families = [requests, durations, refreshes, logins, signups, storeCalls, lag, resyncs];

  const hashing = new Gauge({ name: 'latchkey_password_hash_in_flight', help: 'Password hashes and verifications running or queued on the thread pool', registers });
  let sampler: Sampler | null = null;
  new Gauge({
    name: 'latchkey_revoked_sessions',
    help: 'Sessions this instance currently refuses as revoked',
    registers,
    collect() {
      if (sampler) this.set(sampler.revokedSessions());
    },
  });
  new Gauge({
    name: 'latchkey_store_up',
    help: 'Whether a store answers its health check (1) or not (0)',
    labelNames: ['store'],
    registers,
    async collect() {
      if (!sampler) return;
      for (const s of await sampler.storesUp()) this.set({ store: s.name }, s.ok ? 1 : 0);
    },
  });

  const lagSeries = lag.series1();
  const resyncSeries = resyncs.series1();

  return {
    enabled: true,
    contentType: registry.contentType,
    async scrape() {
      return `${families.map((f) => f.expose()).join('')}${await registry.metrics()}`;
    },
    refresh: (outcome) => void refreshes.series1(outcome).value++,
    login: (outcome) => void logins.series1(outcome).value++,
    signup: (outcome) => void signups.series1(outcome).value++,
    request(route, method, status, seconds) {
      requests.series1(route, method, String(status)).value++;
      durations.observe(durations.series1(route, method), seconds);
    },
    storeCall(store, operation, seconds, ok) {
      storeCalls.observe(storeCalls.series1(store, operation, ok ? 'ok' : 'error'), seconds);
    },
    passwordHashStarted() {
      hashing.inc();
      let done = false;
      return () => {
        if (done) return;
        done = true;
        hashing.dec();
      };
    },
    revocationReceived: (seconds) => lag.observe(lagSeries, Math.max(0, seconds)),
    revocationResync: () => void resyncSeries.value++,
    setSampler(s) {
      sampler = s;
    },
  };
}
