// Micro-benchmark behind "we sign with node:crypto": EdDSA (Ed25519) access-token signing and
// verification with our code (signAccessToken, libsodium when sodium-native loads, else
// node:crypto; verifyAccessToken, node:crypto) against jose 6 (SignJWT / jwtVerify, WebCrypto
// underneath), and node:crypto's one-shot sign() alone. Same header, same claims, same key.
// Standalone: `npx tsx --conditions=latchkey-source bench/sign.ts` (add --json, or SIGN_JSON=1, for one machine-readable line).
import { sign as nodeSign } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import { usesSodium } from '../packages/server/src/crypto/ed25519.js';
import { verifyAccessToken } from '../packages/core/src/jwt/access-token.js';
import { signAccessToken } from '../packages/server/src/jwt/signing.js';
import { benchSigningKey, sampleClaims } from './lib/token-fixture.js';

export interface SignResult {
  name: string;
  /** Wall-clock throughput of this one process. */
  opsPerSec: number;
  /** Operations per second of CPU time (user + system, all threads): the figure that matters
   * when every core is already busy, as on a loaded 2-core server. */
  opsPerCpuSec: number;
  ops: number;
  note: string;
}

const MEASURE_MS = Number(process.env.SIGN_MEASURE_MS ?? 1000);
const WARMUP_MS = Number(process.env.SIGN_WARMUP_MS ?? 300);

const { privateKey, publicKey, kid, signingKey: key } = benchSigningKey();
const issuer = 'http://localhost:3000';
const claims = () => sampleClaims(issuer, issuer);

async function timed(name: string, note: string, batch: number, fn: () => unknown | Promise<unknown>): Promise<SignResult> {
  const runFor = async (ms: number) => {
    let ops = 0;
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    let now = start;
    while (now - start < ms) {
      if (batch === 1) {
        const r = fn();
        if (r instanceof Promise) await r;
        ops++;
      } else {
        await Promise.all(Array.from({ length: batch }, fn));
        ops += batch;
      }
      now = performance.now();
    }
    const cpu = process.cpuUsage(cpu0);
    return { ops, sec: (now - start) / 1000, cpuSec: (cpu.user + cpu.system) / 1e6 };
  };
  await runFor(WARMUP_MS);
  const { ops, sec, cpuSec } = await runFor(MEASURE_MS);
  return { name, opsPerSec: ops / sec, opsPerCpuSec: ops / cpuSec, ops, note };
}

export async function runSignBench(): Promise<SignResult[]> {
  const verifyOpts = { issuer, audience: issuer, leewaySec: 5, maxLifetimeSec: 300, now: Date.now };
  const keyFor = (k: string) => (k === kid ? { kid, alg: 'EdDSA' as const, publicKey } : undefined);
  const joseSign = () =>
    new SignJWT(claims()).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid }).sign(privateKey);
  const token = signAccessToken(key, claims());
  const joseToken = await joseSign();
  // Sanity: each side accepts the other's tokens, so the two are doing the same job.
  verifyAccessToken(joseToken, keyFor, verifyOpts);
  await jwtVerify(token, publicKey, { issuer, audience: issuer, typ: 'at+jwt', algorithms: ['EdDSA'] });

  const out: SignResult[] = [];
  out.push(await timed(`sign ${usesSodium(key.privateKey) ? 'libsodium' : 'node:crypto'} (signAccessToken)`, 'sync, one at a time', 1, () => signAccessToken(key, claims())));
  out.push(await timed('sign node:crypto sign() alone', 'sync, one at a time, same input', 1, () => nodeSign(null, Buffer.from(token.slice(0, token.lastIndexOf('.'))), key.privateKey)));
  out.push(await timed('sign jose SignJWT', 'await one at a time', 1, joseSign));
  out.push(await timed('sign jose SignJWT x50', '50 in flight (as under 50 connections)', 50, joseSign));
  out.push(await timed('verify node:crypto (verifyAccessToken)', 'sync, full claim checks', 1, () => verifyAccessToken(token, keyFor, verifyOpts)));
  out.push(
    await timed('verify jose jwtVerify', 'await one at a time', 1, () =>
      jwtVerify(token, publicKey, { issuer, audience: issuer, typ: 'at+jwt', algorithms: ['EdDSA'] }),
    ),
  );
  return out;
}

if (process.argv[1]?.endsWith('sign.ts')) {
  const results = await runSignBench();
  if (process.argv.includes('--json') || process.env.SIGN_JSON === '1') {
    process.stdout.write(`${JSON.stringify({ ready: true, results })}\n`);
  } else {
    for (const r of results) {
      console.log(
        `${r.name.padEnd(40)} ${Math.round(r.opsPerSec).toString().padStart(7)} ops/s ${Math.round(r.opsPerCpuSec).toString().padStart(7)} ops/CPU-s  (${r.note})`,
      );
    }
  }
}
