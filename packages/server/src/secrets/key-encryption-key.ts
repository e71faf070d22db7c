// Where the key-encryption key (KEK) comes from. It must never live in the store it protects, or a
// dump of that store would carry its own key: LATCHKEY_SECRETS_KEY (the value itself) or
// LATCHKEY_SECRETS_KEY_FILE (a file holding it, e.g. a mounted secret); the embedded shape
// generates one in its own owner-only file, `secrets.key` in the data dir, beside (never inside)
// the SQLite files. With LATCHKEY_DATABASE_URL the configuration must name one (config.ts): every
// instance must share it, and a file generated on one host would not be.
import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.js';
import { KEK_BYTES } from './seal.js';
import { assertPrivateFile } from './file-modes.js';

export const GENERATED_KEK_FILE = 'secrets.key';

/** Parses a KEK as written by an operator: base64url or base64 (padded or not) of 32 bytes, or 64 hex digits. */
export function parseSecretsKey(raw: string): Buffer | null {
  const t = raw.trim();
  let key: Buffer;
  if (/^[0-9a-fA-F]{64}$/.test(t)) key = Buffer.from(t, 'hex');
  else if (/^[A-Za-z0-9_-]{43}$/.test(t) || /^[A-Za-z0-9+/]{43}=$/.test(t)) key = Buffer.from(t, t.includes('+') || t.includes('/') || t.endsWith('=') ? 'base64' : 'base64url');
  else return null;
  return key.length === KEK_BYTES ? key : null;
}

export class SecretsKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretsKeyError';
  }
}

function readKeyFile(path: string, variable: string): Buffer {
  assertPrivateFile(path, 'the key-encryption key file', { readable: false });
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new SecretsKeyError(`${variable}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const key = parseSecretsKey(text);
  if (!key) throw new SecretsKeyError(`${variable}: ${path} must hold base64url (or base64) of 32 random bytes, or 64 hex digits (e.g. from: openssl rand -base64 32)`);
  return key;
}

/** The embedded default: the data dir's own key file, made once (atomically, so two processes starting together agree). */
function generatedKey(dataDir: string): Buffer {
  const path = join(dataDir, GENERATED_KEK_FILE);
  try {
    return readKeyFile(path, 'the generated key-encryption key');
  } catch (e) {
    if (!(e instanceof SecretsKeyError) || !/\(ENOENT\)/.test(e.message)) throw e;
  }
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, `${randomBytes(KEK_BYTES).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  try {
    linkSync(tmp, path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  } finally {
    unlinkSync(tmp);
  }
  return readKeyFile(path, 'the generated key-encryption key');
}

/** The KEK for the configured key store. Call after the data dir exists (and passed its checks). */
export function loadSecretsKey(config: Pick<Config, 'secretsKey' | 'secretsKeyFile' | 'dataDir'>): Buffer {
  if (config.secretsKey) return config.secretsKey;
  if (config.secretsKeyFile) return readKeyFile(config.secretsKeyFile, 'LATCHKEY_SECRETS_KEY_FILE');
  return generatedKey(config.dataDir);
}
