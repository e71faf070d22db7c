// Access-token verification throughput, all in ONE run on one core so the ratios are comparable:
// raw node:crypto Ed25519 verify (the baseline: the signature check alone), the `verify` library
// cold (cache disabled: parse + signature + claims) and cached (same token repeated), jose 6
// jwtVerify, and fast-jwt without and with its cache. Same EdDSA key, same RFC 9068 token.
// Issue 4's target: a repeated token at >= 10x the raw signature verification rate.
//
//   npx tsx --conditions=latchkey-source bench/verify.ts            (VERIFY_BENCH_MS=2000 per case; --json for one JSON line)
import { verify as cryptoVerify } from 'node:crypto';
import { importJWK, jwtVerify } from 'jose';
import { createVerifier as createFastJwtVerifier } from 'fast-jwt';
import { signAccessToken } from '../packages/server/src/jwt/signing.js';
import { benchSigningKey, sampleClaims } from './lib/token-fixture.js';
import { createVerifier } from '../packages/verify/src/index.js';

const MEASURE_MS = Number(process.env.VERIFY_BENCH_MS ?? 2000);
const WARMUP_MS = Number(process.env.VERIFY_BENCH_WARMUP_MS ?? 300);

const issuer = 'https://auth.example.com';
const audience = 'https://api.example.com';
const { publicKey, jwk, kid, signingKey } = benchSigningKey();
const claims = () => sampleClaims(issuer, audience);

const token = signAccessToken(signingKey, claims());
const manyTokens = Array.from({ length: 1000 }, () => signAccessToken(signingKey, claims()));
const dot = token.lastIndexOf('.');
const signingInput = Buffer.from(token.slice(0, dot));
const signature = Buffer.from(token.slice(dot + 1), 'base64url');

// The verifier's metadata and JWKS come from memory: no network in the measurement.
const docs: Record<string, unknown> = {
  [`${issuer}/.well-known/oauth-authorization-server`]: { issuer, jwks_uri: `${issuer}/.well-known/jwks.json` },
  [`${issuer}/.well-known/jwks.json`]: { keys: [{ ...jwk, kid, alg: 'EdDSA', use: 'sig' }] },
};
const memoryFetch = async (url: string) => (url in docs ? Response.json(docs[url]) : new Response(null, { status: 404 }));

interface Row {
  name: string;
  opsPerSec: number;
  opsPerCpuSec: number;
  ops: number;
}

async function measure(name: string, fn: () => unknown, isAsync: boolean): Promise<Row> {
  const run = async (ms: number) => {
    let ops = 0;
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    let now = start;
    while (now - start < ms) {
      if (isAsync) for (let i = 0; i < 64; i++) await fn();
      else for (let i = 0; i < 64; i++) fn();
      ops += 64;
      now = performance.now();
    }
    const cpu = process.cpuUsage(cpu0);
    return { ops, sec: (now - start) / 1000, cpuSec: (cpu.user + cpu.system) / 1e6 };
  };
  await run(WARMUP_MS);
  const r = await run(MEASURE_MS);
  return { name, opsPerSec: r.ops / r.sec, opsPerCpuSec: r.ops / r.cpuSec, ops: r.ops };
}

async function main(): Promise<void> {
  const cold = createVerifier({ issuer, audience, fetch: memoryFetch, cacheSize: 0 });
  const cached = createVerifier({ issuer, audience, fetch: memoryFetch });
  const joseKey = await importJWK({ ...jwk, alg: 'EdDSA' }, 'EdDSA');
  const pem = publicKey.export({ format: 'pem', type: 'spki' }) as string;
  const fastJwtOptions = { key: pem, algorithms: ['EdDSA' as const], allowedIss: issuer, allowedAud: audience, requiredClaims: ['exp', 'iat', 'sub', 'jti'] };
  const fastJwt = createFastJwtVerifier(fastJwtOptions);
  const fastJwtCached = createFastJwtVerifier({ ...fastJwtOptions, cache: 10_000 });
  const joseOptions = { issuer, audience, typ: 'at+jwt', algorithms: ['EdDSA'] };

  // Every contender must accept the token and refuse a tampered one, or its figure means nothing.
  const badSig = Buffer.from(signature);
  badSig[10] = (badSig[10] ?? 0) ^ 1; // a valid encoding of a wrong signature, so the signature check itself must refuse it
  const tampered = `${token.slice(0, dot)}.${badSig.toString('base64url')}`;
  if (!cryptoVerify(null, signingInput, publicKey, signature)) throw new Error('baseline refuses the token');
  await cold.verify(token);
  await cached.verify(token);
  await jwtVerify(token, joseKey, joseOptions);
  fastJwt(token);
  fastJwtCached(token);
  for (const [name, f] of [
    ['latchkey', () => cold.verify(tampered)],
    ['jose', () => jwtVerify(tampered, joseKey, joseOptions)],
    ['fast-jwt', async () => fastJwt(tampered)],
  ] as const) {
    if (await f().then(() => true, () => false)) throw new Error(`${name} accepted a tampered token`);
  }
  for (const t of manyTokens) await cached.verify(t);

  let i = 0;
  const rows: Row[] = [];
  rows.push(await measure('node:crypto Ed25519 verify (baseline)', () => cryptoVerify(null, signingInput, publicKey, signature), false));
  rows.push(await measure('latchkey verify, cold (cacheSize 0)', () => cold.verify(token), true));
  rows.push(await measure('latchkey verify, cached (same token)', () => cached.verify(token), true));
  rows.push(await measure('latchkey verify, cached (1000 tokens, round robin)', () => cached.verify(manyTokens[i++ % 1000] as string), true));
  rows.push(await measure('jose 6 jwtVerify', () => jwtVerify(token, joseKey, joseOptions), true));
  rows.push(await measure('fast-jwt, no cache', () => fastJwt(token), false));
  rows.push(await measure('fast-jwt, cache (same token)', () => fastJwtCached(token), false));
  await cold.close();
  await cached.close();

  const base = rows[0]!.opsPerSec;
  if (process.argv.includes('--json') || process.env.VERIFY_JSON === '1') {
    console.log(JSON.stringify({ node: process.version, measureMs: MEASURE_MS, rows: rows.map((r) => ({ ...r, ratio: r.opsPerSec / base })) }));
    return;
  }
  const w = Math.max(...rows.map((r) => r.name.length));
  console.log(`access-token verification, EdDSA, one process (node ${process.version}, ${MEASURE_MS} ms per case)\n`);
  console.log(`${'case'.padEnd(w)}  ${'ops/s'.padStart(12)}  ${'us/op'.padStart(7)}  ${'x baseline'.padStart(10)}  ${'ops/cpu-s'.padStart(12)}`);
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(w)}  ${Math.round(r.opsPerSec).toLocaleString('en-US').padStart(12)}  ${(1e6 / r.opsPerSec).toFixed(2).padStart(7)}  ${(r.opsPerSec / base).toFixed(2).padStart(10)}  ${Math.round(r.opsPerCpuSec).toLocaleString('en-US').padStart(12)}`,
    );
  }
  const cachedRatio = rows[2]!.opsPerSec / base;
  console.log(`\ncached / raw node:crypto = ${cachedRatio.toFixed(1)}x (target >= 10x): ${cachedRatio >= 10 ? 'met' : 'NOT met'}`);
}

await main();
