// Environment -> typed configuration, validated once at start. A bad value stops the process with a
// message naming the variable and the expected form (a half-configured auth server is worse than none).
import { isIP } from 'node:net';

export type SigningAlg = 'EdDSA' | 'ES256' | 'RS256';

export interface Config {
  port: number;
  host: string;
  issuer: string;
  audience: string;
  dataDir: string;
  accessTtlSec: number;
  reuseGraceSec: number;
  sessionTtlSec: number;
  sessionIdleSec: number;
  maxSessions: number | null;
  clients: string[];
  alg: SigningAlg;
  clockLeewaySec: number;
  redisUrl: string | null;
  redisClusterNodes: string[] | null;
  databaseUrl: string | null;
  /**
   * Whose X-Forwarded-For to believe for the client IP the login limits key on: false (none),
   * the proxies' addresses/CIDRs (the client is the first untrusted hop from the right), or true
   * (every hop: safe only if the proxy overwrites the header, since with an appending proxy the
   * client writes the leftmost entry itself and so picks its own rate-limit key).
   */
  trustProxy: boolean | string[];
  demo: boolean;
  bodyLimitBytes: number;
  logLevel: string;
  /** Failed logins per account per window before 429. */
  loginAccountLimit: number;
  /** Failed logins per client IP per window before 429. */
  loginIpLimit: number;
  loginWindowSec: number;
  /**
   * Seconds a client gets to send a whole request (headers and body); a slow client (slowloris)
   * is cut off after it instead of holding a connection and its memory.
   */
  requestTimeoutSec: number;
  /** The management listener (/metrics, admin API): never the public port. */
  adminHost: string;
  /** null: no management listener (and no metrics collected); 0: any free port. */
  adminPort: number | null;
  /** Origins (scheme://host[:port]) that browsers may call the API from, besides the server's own. */
  corsOrigins: string[];
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    expected: string,
    got: string,
  ) {
    super(`${variable}: expected ${expected}, got ${JSON.stringify(got)}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(name, `an integer from ${min} to ${max}`, raw);
  const n = Number(raw.trim());
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new ConfigError(name, `an integer from ${min} to ${max}`, raw);
  return n;
}

function bool(env: Env, name: string, def: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(name, 'true or false', raw);
}

function url(env: Env, name: string, protocols: string[]): string | null {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return null;
  let parsed: URL;
  try {
    parsed = new URL(raw.trim());
  } catch {
    throw new ConfigError(name, `a URL (${protocols.join(' or ')})`, redactUrl(raw));
  }
  if (!protocols.includes(parsed.protocol)) throw new ConfigError(name, `a URL (${protocols.join(' or ')})`, redactUrl(raw));
  return raw.trim();
}

/** Error messages must not echo a password embedded in a connection URL. */
function redactUrl(raw: string): string {
  return raw.replace(/\/\/([^/@:]*):[^/@]*@/, '//$1:***@');
}

function trustProxy(env: Env): boolean | string[] {
  const raw = (env.LATCHKEY_TRUST_PROXY ?? '').trim();
  const expected = 'true, false, or comma-separated proxy addresses/CIDRs (or loopback, linklocal, uniquelocal)';
  if (raw === '' || /^[a-z0-9]+$/i.test(raw)) {
    try {
      return bool(env, 'LATCHKEY_TRUST_PROXY', false);
    } catch {
      if (!['loopback', 'linklocal', 'uniquelocal'].includes(raw)) throw new ConfigError('LATCHKEY_TRUST_PROXY', expected, raw);
    }
  }
  const list = raw.split(',').map((a) => a.trim());
  for (const a of list) {
    const [addr = '', bits, extra] = a.split('/');
    const family = isIP(addr);
    const named = ['loopback', 'linklocal', 'uniquelocal'].includes(a);
    const bitsOk = bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 6 ? 128 : 32));
    if (!named && (family === 0 || !bitsOk || extra !== undefined)) throw new ConfigError('LATCHKEY_TRUST_PROXY', expected, raw);
  }
  return list;
}

/** Exact origins only: a wildcard would hand every site the credential endpoints (issue 12). */
function corsOrigins(env: Env): string[] {
  const raw = (env.LATCHKEY_CORS_ORIGINS ?? '').trim();
  if (raw === '') return [];
  const expected = 'comma-separated origins like https://app.example.com (scheme, host and port only)';
  return raw.split(',').map((o) => {
    const t = o.trim();
    let u: URL;
    try {
      u = new URL(t);
    } catch {
      throw new ConfigError('LATCHKEY_CORS_ORIGINS', expected, raw);
    }
    if ((u.protocol !== 'https:' && u.protocol !== 'http:') || u.origin !== t.replace(/\/$/, '') || u.username || u.password) {
      throw new ConfigError('LATCHKEY_CORS_ORIGINS', expected, raw);
    }
    return u.origin;
  });
}

const DAY = 86_400;
/** Prometheus exporters' customary port (OpenTelemetry's Prometheus exporter uses it too). */
const DEFAULT_ADMIN_PORT = 9464;

function logLevel(env: Env): string {
  const raw = (env.LATCHKEY_LOG_LEVEL ?? '').trim() || 'info';
  const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
  if (!levels.includes(raw)) throw new ConfigError('LATCHKEY_LOG_LEVEL', levels.join(', '), raw);
  return raw;
}

/** Sessions per user when LATCHKEY_MAX_SESSIONS is not set; the oldest end first. */
export const DEFAULT_MAX_SESSIONS = 100;

export function loadConfig(env: Env = process.env): Config {
  const port = int(env, 'PORT', 3000, 0, 65_535);
  const host = (env.HOST ?? '').trim() || '127.0.0.1';

  const issuerRaw = url(env, 'LATCHKEY_ISSUER', ['http:', 'https:']);
  const issuer = issuerRaw ?? `http://localhost:${port}`;
  if (issuerRaw !== null) {
    // RFC 8414 §2: the issuer is a URL with no query or fragment.
    const u = new URL(issuerRaw);
    if (u.search || u.hash) throw new ConfigError('LATCHKEY_ISSUER', 'an http(s) URL without query or fragment', issuerRaw);
  }
  const audience = (env.LATCHKEY_AUDIENCE ?? '').trim() || issuer;

  const accessTtlSec = int(env, 'LATCHKEY_ACCESS_TTL', 300, 1, DAY);
  const reuseGraceSec = int(env, 'LATCHKEY_REUSE_GRACE', 10, 0, 300);
  const sessionTtlSec = int(env, 'LATCHKEY_SESSION_TTL', 30 * DAY, 60, 3650 * DAY);
  const sessionIdleSec = int(env, 'LATCHKEY_SESSION_IDLE', 7 * DAY, 60, 3650 * DAY);
  // A bounded default (issue 12): one account logging in without end cannot pile up sessions.
  const maxSessions: number | null = int(env, 'LATCHKEY_MAX_SESSIONS', DEFAULT_MAX_SESSIONS, 1, 100_000);

  const clientsRaw = (env.LATCHKEY_CLIENTS ?? '').trim() || 'app';
  const clients = clientsRaw.split(',').map((c) => c.trim());
  for (const c of clients) {
    if (!/^[A-Za-z0-9._~-]{1,64}$/.test(c)) {
      throw new ConfigError('LATCHKEY_CLIENTS', 'comma-separated client ids of 1-64 characters [A-Za-z0-9._~-]', clientsRaw);
    }
  }
  if (new Set(clients).size !== clients.length) throw new ConfigError('LATCHKEY_CLIENTS', 'distinct client ids', clientsRaw);

  const algRaw = (env.LATCHKEY_ALG ?? '').trim() || 'EdDSA';
  if (algRaw !== 'EdDSA' && algRaw !== 'ES256' && algRaw !== 'RS256') throw new ConfigError('LATCHKEY_ALG', 'EdDSA, ES256 or RS256', algRaw);

  const redisUrl = url(env, 'LATCHKEY_REDIS_URL', ['redis:', 'rediss:']);
  const clusterRaw = (env.LATCHKEY_REDIS_CLUSTER ?? '').trim();
  let redisClusterNodes: string[] | null = null;
  if (clusterRaw) {
    redisClusterNodes = clusterRaw.split(',').map((s) => s.trim());
    for (const n of redisClusterNodes) {
      if (!/^[A-Za-z0-9.\-_[\]:]+:\d{1,5}$/.test(n)) throw new ConfigError('LATCHKEY_REDIS_CLUSTER', 'comma-separated host:port seed nodes', clusterRaw);
    }
  }

  const adminRaw = (env.LATCHKEY_ADMIN_PORT ?? '').trim().toLowerCase();
  const adminPort = adminRaw === 'off' ? null : int(env, 'LATCHKEY_ADMIN_PORT', DEFAULT_ADMIN_PORT, 0, 65_535);
  if (adminPort !== null && adminPort !== 0 && adminPort === port) {
    throw new ConfigError('LATCHKEY_ADMIN_PORT', `a port other than PORT (${port}), or off`, adminRaw);
  }

  return {
    port,
    host,
    issuer,
    audience,
    dataDir: (env.LATCHKEY_DATA_DIR ?? '').trim() || './data',
    accessTtlSec,
    reuseGraceSec,
    sessionTtlSec,
    sessionIdleSec,
    maxSessions,
    clients,
    alg: algRaw,
    clockLeewaySec: int(env, 'LATCHKEY_CLOCK_LEEWAY', 5, 0, 300),
    redisUrl,
    redisClusterNodes,
    databaseUrl: url(env, 'LATCHKEY_DATABASE_URL', ['postgres:', 'postgresql:']),
    trustProxy: trustProxy(env),
    // On by default only in the embedded shape: a scale-out deployment serves an API, not a demo.
    demo: bool(env, 'LATCHKEY_DEMO', redisUrl === null && redisClusterNodes === null),
    bodyLimitBytes: int(env, 'LATCHKEY_BODY_LIMIT', 32 * 1024, 1024, 1024 * 1024),
    logLevel: logLevel(env),
    loginAccountLimit: int(env, 'LATCHKEY_LOGIN_ACCOUNT_LIMIT', 10, 1, 1_000_000),
    loginIpLimit: int(env, 'LATCHKEY_LOGIN_IP_LIMIT', 100, 1, 1_000_000),
    loginWindowSec: int(env, 'LATCHKEY_LOGIN_WINDOW', 900, 1, DAY),
    requestTimeoutSec: int(env, 'LATCHKEY_REQUEST_TIMEOUT', 30, 1, 600),
    // Loopback by default: metrics and the admin API are for operators, not the internet.
    adminHost: (env.LATCHKEY_ADMIN_HOST ?? '').trim() || '127.0.0.1',
    adminPort,
    corsOrigins: corsOrigins(env),
  };
}
