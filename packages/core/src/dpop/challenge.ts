// RFC 9449 §7.1 challenges (with RFC 6750 §3's error codes), shared by every resource server.
import { DPOP_ALGS } from './proof.js';

export type DpopChallengeError = 'invalid_token' | 'invalid_dpop_proof' | 'use_dpop_nonce' | 'invalid_request';

/** `WWW-Authenticate: DPoP …`; without an error it is the bare challenge for a request with no credentials (RFC 6750 §3.1). */
export function dpopChallenge(error?: DpopChallengeError, description?: string, algs: readonly string[] = DPOP_ALGS): string {
  const parts = [`algs="${algs.join(' ')}"`];
  if (error) parts.unshift(`error="${error}"`);
  if (error && description) parts.splice(1, 0, `error_description="${description.replace(/["\\]/g, '')}"`);
  return `DPoP ${parts.join(', ')}`;
}

/** The `cnf.jkt` of an access token's claims (RFC 9449 §6.1), or null for an unbound token. */
export function boundThumbprint(claims: { cnf?: unknown }): string | null {
  const cnf = claims.cnf;
  if (typeof cnf !== 'object' || cnf === null) return null;
  const jkt = (cnf as { jkt?: unknown }).jkt;
  return typeof jkt === 'string' ? jkt : null;
}
