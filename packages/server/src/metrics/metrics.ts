// What Latchkey counts, behind an interface the use cases call, so auth/ knows nothing of
// Prometheus and a server without a management listener pays nothing (noopMetrics). Names and
// labels follow Prometheus conventions (`latchkey_…_total` counters, `_seconds` histograms, base
// units); no label ever holds a user id, session id, email or token: label values come from
// small fixed sets, so the number of series stays bounded whatever callers send.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export type RefreshOutcome = 'rotate' | 'grace' | 'reuse' | 'expired' | 'forged' | 'wrong_client' | 'ended' | 'future';
export type LoginOutcome = 'ok' | 'failed' | 'throttled';
export type SignupOutcome = 'ok' | 'taken';

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
  readonly registry: Registry;
}

export function prometheusMetrics(): PrometheusMetrics {
  const registry = new Registry();
  // Process and runtime metrics, event-loop delay among them (nodejs_eventloop_lag_*).
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
  const registers = [registry];

  const requests = new Counter({ name: 'latchkey_http_requests_total', help: 'HTTP requests by route pattern, method and status', labelNames: ['route', 'method', 'status'], registers });
  const durations = new Histogram({ name: 'latchkey_http_request_duration_seconds', help: 'HTTP request duration by route pattern and method', labelNames: ['route', 'method'], buckets: LATENCY_BUCKETS, registers });
  const refreshes = new Counter({ name: 'latchkey_refresh_total', help: 'Refresh-token requests by outcome (reuse: a spent token replayed, the session revoked)', labelNames: ['outcome'], registers });
  const logins = new Counter({ name: 'latchkey_login_total', help: 'Login attempts by outcome', labelNames: ['outcome'], registers });
  const signups = new Counter({ name: 'latchkey_signup_total', help: 'Sign-ups by outcome', labelNames: ['outcome'], registers });
  const storeCalls = new Histogram({ name: 'latchkey_store_operation_duration_seconds', help: 'Store round trips by store, operation and result', labelNames: ['store', 'operation', 'result'], buckets: LATENCY_BUCKETS, registers });
  const hashing = new Gauge({ name: 'latchkey_password_hash_in_flight', help: 'Password hashes and verifications running or queued on the thread pool', registers });
  const lag = new Histogram({ name: 'latchkey_revocation_feed_lag_seconds', help: 'Time from a revocation being made to this instance receiving it over the feed', buckets: LAG_BUCKETS, registers });
  const resyncs = new Counter({ name: 'latchkey_revocation_feed_resyncs_total', help: 'Times the revocation feed (re)subscribed and reloaded what it may have missed', registers });
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

  // Children cached per label set: labels() hashes its arguments on every call otherwise.
  const refreshChild = new Map<string, { inc(): void }>();
  const requestChild = new Map<string, { inc(): void }>();
  const durationChild = new Map<string, { observe(v: number): void }>();
  const cached = <T>(map: Map<string, T>, key: string, make: () => T): T => {
    let c = map.get(key);
    if (c === undefined) map.set(key, (c = make()));
    return c;
  };

  return {
    enabled: true,
    registry,
    refresh: (outcome) => cached(refreshChild, outcome, () => refreshes.labels(outcome)).inc(),
    login: (outcome) => logins.labels(outcome).inc(),
    signup: (outcome) => signups.labels(outcome).inc(),
    request(route, method, status, seconds) {
      const key = `${method} ${route}`;
      cached(requestChild, `${key} ${status}`, () => requests.labels(route, method, String(status))).inc();
      cached(durationChild, key, () => durations.labels(route, method)).observe(seconds);
    },
    storeCall: (store, operation, seconds, ok) => storeCalls.labels(store, operation, ok ? 'ok' : 'error').observe(seconds),
    passwordHashStarted() {
      hashing.inc();
      let done = false;
      return () => {
        if (done) return;
        done = true;
        hashing.dec();
      };
    },
    revocationReceived: (seconds) => lag.observe(Math.max(0, seconds)),
    revocationResync: () => resyncs.inc(),
    setSampler(s) {
      sampler = s;
    },
  };
}
