// Looks for usable key material in a dump: every 32-byte window of the raw bytes, and of every
// base64 / base64url / hex run decoded (at each alignment), tried as an Ed25519 seed against the
// published public keys and as the HMAC key of live refresh tokens (the real decoder, so the MAC
// construction is the server's own). Windows that cannot be 32 random bytes are skipped for speed:
// fewer than 16 distinct byte values, or no byte >= 0x80 (a uniformly random 32-byte string has
// ~30 distinct values, and all 32 bytes below 0x80 with probability 2^-32), which removes the
// text and the zero-filled pages that make up most of a database file.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { decodeRefreshToken } from '../../packages/server/src/domain/refresh-token.js';

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export interface ScanTargets {
  /** Raw 32-byte Ed25519 public keys (the JWKS `x` values). */
  ed25519Public: Buffer[];
  /** Live refresh tokens. */
  refreshTokens: string[];
}

export interface ScanResult {
  signingSeeds: number;
  macSecrets: number;
  windowsTried: number;
}

function* decodedRuns(text: string): Generator<Buffer> {
  for (const m of text.matchAll(/[A-Za-z0-9+/_-]{43,}/g)) {
    const run = m[0];
    // A value embedded in a longer run may start at any character: try each 4-character alignment.
    for (let off = 0; off < 4; off++) {
      const part = run.slice(off);
      yield Buffer.from(part.replace(/\+/g, '-').replace(/\//g, '_'), 'base64url');
    }
  }
  for (const m of text.matchAll(/[0-9a-fA-F]{64,}/g)) {
    yield Buffer.from(m[0], 'hex');
    yield Buffer.from(m[0].slice(1), 'hex');
  }
}

function plausibleWindows(buf: Buffer, seen: Set<string>, out: Buffer[]): void {
  if (buf.length < 32) return;
  const counts = new Uint8Array(256);
  let distinct = 0;
  let high = 0;
  const add = (b: number, d: 1 | -1) => {
    const before = counts[b]!;
    counts[b] = before + d;
    if ((d === 1 && before === 0) || (d === -1 && before === 1)) distinct += d;
    if (b >= 0x80) high += d;
  };
  for (let i = 0; i < 32; i++) add(buf[i]!, 1);
  for (let i = 0; ; i++) {
    if (distinct >= 16 && high > 0) {
      const w = buf.subarray(i, i + 32);
      const key = w.toString('latin1');
      if (!seen.has(key)) {
        seen.add(key);
        out.push(Buffer.from(w));
      }
    }
    if (i + 32 >= buf.length) break;
    add(buf[i]!, -1);
    add(buf[i + 32]!, 1);
  }
}

export function scanForSecrets(dumps: Buffer[], targets: ScanTargets): ScanResult {
  const seen = new Set<string>();
  const windows: Buffer[] = [];
  for (const d of dumps) {
    plausibleWindows(d, seen, windows);
    for (const decoded of decodedRuns(d.toString('latin1'))) plausibleWindows(decoded, seen, windows);
  }
  const publics = new Set(targets.ed25519Public.map((p) => p.toString('hex')));
  let signingSeeds = 0;
  let macSecrets = 0;
  for (const w of windows) {
    const priv = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, w]), format: 'der', type: 'pkcs8' });
    const x = Buffer.from(createPublicKey(priv).export({ format: 'jwk' }).x!, 'base64url');
    if (publics.has(x.toString('hex'))) signingSeeds++;
    for (const token of targets.refreshTokens) {
      const id = Buffer.from(token, 'base64url').readUInt16BE(1);
      const key = { id, secret: w };
      if (decodeRefreshToken({ current: key, byId: new Map([[id, key]]) }, token)) macSecrets++;
    }
  }
  return { signingSeeds, macSecrets, windowsTried: windows.length };
}
