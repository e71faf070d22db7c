// @latchkey/verify on DPoP-bound access tokens (issue 11), in one process so the ratios compare:
// (a) the raw Ed25519 signature check of the access token (node:crypto, the baseline), (b) a
// cached Bearer token through verifyRequest, (c) a DPoP-bound token (cached, so only its proof
// costs) with a fresh proof on every call, ES256 and EdDSA proof keys. Proofs cannot be cached:
// each is used once (a second use is a replay), so they are all made before the timed loop, and
// every call must succeed or the run fails. The cold Bearer row (cacheSize 0) is for scale.
//
//   npx tsx --conditions=latchkey-source bench/verify-dpop.ts     (--json, or VERIFY_DPOP_JSON=1, for one JSON line)
//   DPOP_BENCH_PROOFS=20000 proofs per DPoP row (plus 10% for warm-up); other rows run 5x as many calls.
import { verify as cryptoVerify } from 'node:crypto';
import { signAccessToken } from '../packages/server/src/jwt/signing.js';
import { createVerifier, type RequestCredentials } from '../packages/verify/src/index.js';
import { makeProof, proofKey, type ProofAlg } from '../test/helpers/dpop-proof.js';
import { benchSigningKey, sampleClaims } from './lib/token-fixture.js';
import type { SignResult } from './sign.js';

const PROOFS = Number(process.env.DPOP_BENCH_PROOFS ?? 20_000);
const WARMUP = Math.ceil(PROOFS / 10);

const issuer = 'https://auth.example.com';
const audience = 'https://api.example.com';
const url = 'https://api.example.com/orders';
const { publicKey, jwk, kid, signingKey } = benchSigningKey();
const docs: Record<string, unknown> = {
  [`${issuer}/.well-known/oauth-authorization-server`]: { issuer, jwks_uri: `${issuer}/.well-known/jwks.json` },
  [`${issuer}/.well-known/jwks.json`]: { keys: [{ ...jwk, kid, alg: 'EdDSA', use: 'sig' }] },
};
const memoryFetch = async (u: string) => (u in docs ? Response.json(docs[u]) : new Response(null, { status: 404 }));

async function timed(name: string, note: string, count: number, fn: (i: number) => unknown): Promise<SignResult> {
  const run = async (n: number, from: number) => {
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    for (let i = 0; i < n; i++) await fn(from + i);
    const cpu = process.cpuUsage(cpu0);
    return { sec: (performance.now() - start) / 1000, cpuSec: (cpu.user + cpu.system) / 1e6 };
  };
  const warm = Math.ceil(count / 10);
  await run(warm, 0);
  const r = await run(count, warm);
  return { name, opsPerSec: count / r.sec, opsPerCpuSec: count / r.cpuSec, ops: count, note };
}

export async function runVerifyDpopBench(): Promise<SignResult[]> {
  const token = signAccessToken(signingKey, sampleClaims(issuer, audience));
  const dot = token.lastIndexOf('.');
  const input = Buffer.from(token.slice(0, dot));
  const sig = Buffer.from(token.slice(dot + 1), 'base64url');
  const cold = createVerifier({ issuer, audience, fetch: memoryFetch, cacheSize: 0 });
  const v = createVerifier({ issuer, audience, fetch: memoryFetch });
  const bearer: RequestCredentials = { authorization: `Bearer ${token}`, method: 'GET', url };
  await v.verifyRequest(bearer);
  await cold.verifyRequest(bearer);

  const rows: SignResult[] = [];
  const n = PROOFS * 5;
  rows.push(await timed('raw Ed25519 signature (node:crypto)', 'baseline: the access token signature alone', n, () => cryptoVerify(null, input, publicKey, sig)));
  rows.push(await timed('verifyRequest Bearer, cached', 'same token; signature skipped', n, () => v.verifyRequest(bearer)));
  rows.push(await timed('verifyRequest Bearer, cold (cacheSize 0)', 'parse + signature + claims', n, () => cold.verifyRequest(bearer)));

  for (const alg of ['ES256', 'EdDSA'] as ProofAlg[]) {
    const key = proofKey(alg);
    const bound = signAccessToken(signingKey, { ...sampleClaims(issuer, audience), cnf: { jkt: key.jkt } });
    await v.verifyRequest({ authorization: `DPoP ${bound}`, dpop: makeProof(key, { htu: url, accessToken: bound }), method: 'GET', url }); // token now cached
    const proofs = Array.from({ length: PROOFS + WARMUP }, () => makeProof(key, { htu: url, accessToken: bound }));
    const authorization = `DPoP ${bound}`;
    rows.push(
      await timed(`verifyRequest DPoP, ${alg} proof, fresh each call`, 'cached token; proof checked (parse, jwk import, signature, ath, replay cache)', PROOFS, (i) =>
        v.verifyRequest({ authorization, dpop: proofs[i], method: 'GET', url }),
      ),
    );
  }
  await v.close();
  await cold.close();
  return rows;
}

if (process.argv[1]?.endsWith('verify-dpop.ts')) {
  const rows = await runVerifyDpopBench();
  const base = rows[0]!.opsPerSec;
  const baseCpu = rows[0]!.opsPerCpuSec;
  if (process.argv.includes('--json') || process.env.VERIFY_DPOP_JSON === '1') {
    process.stdout.write(`${JSON.stringify({ ready: true, results: rows })}\n`);
  } else {
    console.log(`@latchkey/verify with DPoP-bound tokens, one process (node ${process.version}, ${PROOFS} proofs per DPoP row)\n`);
    for (const r of rows) {
      console.log(
        `${r.name.padEnd(46)} ${Math.round(r.opsPerSec).toLocaleString('en-US').padStart(9)} ops/s  ${(1e6 / r.opsPerSec).toFixed(1).padStart(6)} us/op  ${(r.opsPerSec / base).toFixed(2).padStart(6)}x raw  ${Math.round(r.opsPerCpuSec).toLocaleString('en-US').padStart(9)} ops/CPU-s  ${(r.opsPerCpuSec / baseCpu).toFixed(2).padStart(6)}x raw per CPU-s`,
      );
    }
  }
}
