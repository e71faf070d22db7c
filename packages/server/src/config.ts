// Environment -> typed configuration, validated once at start. A bad value stops the process with a
// message naming the variable and the expected form (a half-configured auth server is worse than none).
import { isIP } from 'node:net';
import { parseSecretsKey } from './secrets/key-encryption-key.js';
import { availableParallelism } from 'node:os';

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
  /** Successful logins per account per login window before 429 (issue 12 item 1). */
  loginSuccessLimit: number;
  /** Sign-ups per client source (IPv4 address, IPv6 /64) per sign-up window, and over all sources (issue 12 item 3). */
  signupIpLimit: number;
  signupLimit: number;
  signupWindowSec: number;
  /** Password hashes running at once, and how many may wait beyond them before 503 busy (issue 12 item 3). */
  hashConcurrency: number;
  hashQueueDepth: number;
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
  /** The key-encryption key sealing signing keys and MAC secrets at rest (LATCHKEY_SECRETS_KEY). */
  secretsKey: Buffer | null;
  /** A file holding it instead (LATCHKEY_SECRETS_KEY_FILE); neither: generated in the data dir (embedded only). */
  secretsKeyFile: string | null;
  /** Seconds between scheduled rotations of the signing key and the refresh MAC secret; null: off. */
  keyRotationSec: number | null;
  /** Seconds a new signing key is published (and a new MAC secret known) before it is used. */
  keyPublishLeadSec: number;
  /** Seconds between reloads of the key store (keys another instance or the CLI added). */
  keyReloadSec: number;
  /** smtp:// or smtps:// relay for account mail; null: the dev outbox (embedded development). */
  smtpUrl: string | null;
  /** SMTP credentials given apart from the URL (they win over credentials in it). */
  smtpUser: string | null;
  smtpPassword: string | null;
  /** The From of account mail. */
  mailFrom: string;
  /** Names the product in account mail. */
  productName: string;
  /** Base URL of the pages that account-mail links open (their token in the `token` query parameter). */
  appUrl: string;
  /** Longest wait between two delivery attempts of one message while SMTP is down. */
  mailRetryMaxSec: number;
  /** A message still undelivered this long after it was queued is given up. */
  mailMaxAgeSec: number;
  /** Login (and sign-up's first session) only once the address is verified (issue 10). */
  requireVerifiedEmail: boolean;
  /**
   * DPoP-bound sessions (RFC 9449, issue 11): `optional` binds a session whose client sends a
   * proof; `required` refuses sign-up and login without one; `off` ignores proofs (Bearer only).
   */
  dpop: DpopPolicy;
  /** Server nonces (RFC 9449 §8) on the login, sign-up and token endpoints. */
  dpopNonce: boolean;
  /** Seconds a DPoP proof is accepted after its `iat` (RFC 9449 §11.1), besides the clock leeway. */
  dpopProofMaxAgeSec: number;
  /** The public base URL clients call (behind a proxy: the proxy's); proofs' `htu` must name it. */
  publicUrl: string;
  /**
   * Every base URL a proof's `htu` may name: the public URL, and where that is the default
   * http://localhost:PORT, its loopback addresses too (a browser on 127.0.0.1 is on the same machine).
   */
  publicUrls: string[];
}

export type DpopPolicy = 'optional' | 'required' | 'off';

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

/** A plain name for mail: no control characters, no quotes or angle brackets (header injection). */
function productName(env: Env): string {
  const raw = (env.LATCHKEY_PRODUCT_NAME ?? '').trim();
  if (raw === '') return 'Latchkey';
  if (raw.length > 64 || /[\u0000-\u001f\u007f"<>\\]/.test(raw)) throw new ConfigError('LATCHKEY_PRODUCT_NAME', 'a name of up to 64 characters without control characters, quotes or <>', raw);
  return raw;
}

/** `addr@host` or `Name <addr@host>`, one line (a CR or LF would inject headers). */
function mailFrom(env: Env, name: string, issuer: string): string {
  const raw = (env.LATCHKEY_MAIL_FROM ?? '').trim();
  if (raw === '') return `"${name}" <no-reply@${new URL(issuer).hostname}>`;
  if (!/^(?:[^\r\n<>]*<[^\s<>@]+@[^\s<>@]+>|[^\s<>@]+@[^\s<>@]+)$/.test(raw)) throw new ConfigError('LATCHKEY_MAIL_FROM', 'an address, or Name <address>', raw);
  return raw;
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

function secretsKey(env: Env, databaseUrl: string | null): { secretsKey: Buffer | null; secretsKeyFile: string | null } {
  const raw = env.LATCHKEY_SECRETS_KEY ?? '';
  const file = (env.LATCHKEY_SECRETS_KEY_FILE ?? '').trim() || null;
  const expected = 'base64url (or base64) of 32 random bytes, or 64 hex digits, e.g. from: openssl rand -base64 32';
  if (raw.trim() !== '' && file !== null) throw new ConfigError('LATCHKEY_SECRETS_KEY', 'either it or LATCHKEY_SECRETS_KEY_FILE, not both', '[not shown]');
  if (raw.trim() !== '') {
    const key = parseSecretsKey(raw);
    // Never echo the value: it is the key to every signing key.
    if (!key) throw new ConfigError('LATCHKEY_SECRETS_KEY', expected, `[${raw.trim().length} characters, not shown]`);
    return { secretsKey: key, secretsKeyFile: null };
  }
  if (file === null && databaseUrl !== null) {
    // Instances on several hosts share the keys in PostgreSQL, so they must share the KEK too; a
    // generated file per host would make each instance unable to read the others' keys, and one
    // kept in the database would be no protection against a dump of it.
    throw new ConfigError(
      'LATCHKEY_SECRETS_KEY',
      `a key-encryption key (or LATCHKEY_SECRETS_KEY_FILE) when LATCHKEY_DATABASE_URL is set, the same on every instance: ${expected}`,
      '',
    );
  }
  return { secretsKey: null, secretsKeyFile: file };
}

function keyRotation(env: Env, lead: number): number | null {
  const raw = (env.LATCHKEY_KEY_ROTATION ?? '').trim().toLowerCase();
  if (raw === 'off') return null;
  const sec = int(env, 'LATCHKEY_KEY_ROTATION', 30 * DAY, 1, 3650 * DAY);
  if (sec <= lead) throw new ConfigError('LATCHKEY_KEY_ROTATION', `off, or more seconds than LATCHKEY_KEY_PUBLISH_LEAD (${lead})`, raw);
  return sec;
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

  const databaseUrl = url(env, 'LATCHKEY_DATABASE_URL', ['postgres:', 'postgresql:']);
  const keyReloadSec = int(env, 'LATCHKEY_KEY_RELOAD', 30, 1, 3600);
  const keyPublishLeadSec = int(env, 'LATCHKEY_KEY_PUBLISH_LEAD', 3600, 1, 30 * DAY);
  // Every instance must have loaded a new key before it is used: at least two reloads' time.
  if (keyPublishLeadSec < 2 * keyReloadSec) {
    throw new ConfigError('LATCHKEY_KEY_PUBLISH_LEAD', `at least twice LATCHKEY_KEY_RELOAD (${keyReloadSec}) seconds`, String(keyPublishLeadSec));
  }

  const name = productName(env);
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
    databaseUrl,
    trustProxy: trustProxy(env),
    // On by default only in the embedded shape: a scale-out deployment serves an API, not a demo.
    demo: bool(env, 'LATCHKEY_DEMO', redisUrl === null && redisClusterNodes === null),
    bodyLimitBytes: int(env, 'LATCHKEY_BODY_LIMIT', 32 * 1024, 1024, 1024 * 1024),
    logLevel: logLevel(env),
    loginAccountLimit: int(env, 'LATCHKEY_LOGIN_ACCOUNT_LIMIT', 10, 1, 1_000_000),
    loginIpLimit: int(env, 'LATCHKEY_LOGIN_IP_LIMIT', 100, 1, 1_000_000),
    loginWindowSec: int(env, 'LATCHKEY_LOGIN_WINDOW', 900, 1, DAY),
    loginSuccessLimit: int(env, 'LATCHKEY_LOGIN_SUCCESS_LIMIT', 60, 1, 1_000_000),
    signupIpLimit: int(env, 'LATCHKEY_SIGNUP_IP_LIMIT', 20, 1, 1_000_000),
    signupLimit: int(env, 'LATCHKEY_SIGNUP_LIMIT', 600, 1, 1_000_000),
    signupWindowSec: int(env, 'LATCHKEY_SIGNUP_WINDOW', 600, 1, DAY),
    // argon2id runs on libuv's pool (4 threads unless UV_THREADPOOL_SIZE says otherwise); more
    // hashes at once than cores only makes each slower. Storm-prone work gets one fewer (passwords.ts).
    hashConcurrency: int(env, 'LATCHKEY_HASH_CONCURRENCY', Math.min(4, availableParallelism()), 1, 64),
    hashQueueDepth: int(env, 'LATCHKEY_HASH_QUEUE', 64, 1, 100_000),
    requestTimeoutSec: int(env, 'LATCHKEY_REQUEST_TIMEOUT', 30, 1, 600),
    // Loopback by default: metrics and the admin API are for operators, not the internet.
    adminHost: (env.LATCHKEY_ADMIN_HOST ?? '').trim() || '127.0.0.1',
    adminPort,
    corsOrigins: corsOrigins(env),
    ...secretsKey(env, databaseUrl),
    keyRotationSec: keyRotation(env, keyPublishLeadSec),
    keyPublishLeadSec,
    keyReloadSec,
    smtpUrl: url(env, 'LATCHKEY_SMTP_URL', ['smtp:', 'smtps:']),
    smtpUser: (env.LATCHKEY_SMTP_USER ?? '').trim() || null,
    smtpPassword: env.LATCHKEY_SMTP_PASSWORD || null,
    mailFrom: mailFrom(env, name, issuer),
    productName: name,
    // Default: the server's own demo pages, which handle every link (web/).
    appUrl: url(env, 'LATCHKEY_APP_URL', ['http:', 'https:']) ?? `${issuer.replace(/\/$/, '')}/demo/`,
    mailRetryMaxSec: int(env, 'LATCHKEY_MAIL_RETRY_MAX', 60, 1, DAY),
    mailMaxAgeSec: int(env, 'LATCHKEY_MAIL_MAX_AGE', DAY, 60, 7 * DAY),
    requireVerifiedEmail: bool(env, 'LATCHKEY_REQUIRE_VERIFIED_EMAIL', false),
    dpop: dpopPolicy(env),
    dpopNonce: bool(env, 'LATCHKEY_DPOP_NONCE', true),
    dpopProofMaxAgeSec: int(env, 'LATCHKEY_DPOP_PROOF_AGE', 60, 1, 600),
    ...publicUrls(env, issuer),
  };
}

function dpopPolicy(env: Env): DpopPolicy {
  const raw = (env.LATCHKEY_DPOP ?? '').trim().toLowerCase() || 'optional';
  if (raw !== 'optional' && raw !== 'required' && raw !== 'off') throw new ConfigError('LATCHKEY_DPOP', 'optional, required or off', raw);
  return raw;
}

function publicUrls(env: Env, issuer: string): { publicUrl: string; publicUrls: string[] } {
  const raw = url(env, 'LATCHKEY_PUBLIC_URL', ['http:', 'https:']);
  if (raw !== null) {
    const u = new URL(raw);
    if (u.search || u.hash || u.username || u.password) throw new ConfigError('LATCHKEY_PUBLIC_URL', 'an http(s) URL without credentials, query or fragment', raw);
    return { publicUrl: raw, publicUrls: [raw] };
  }
  const u = new URL(issuer);
  if (u.hostname !== 'localhost') return { publicUrl: issuer, publicUrls: [issuer] };
  const on = (host: string) => `${u.protocol}//${host}${u.port ? `:${u.port}` : ''}${u.pathname}`;
  return { publicUrl: issuer, publicUrls: [issuer, on('127.0.0.1'), on('[::1]')] };
}
