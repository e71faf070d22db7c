// Tokens of emailed links (verification, reset, address change): 256 random bits in base64url,
// stored only as their SHA-256 (DESIGN "Email": ≥ 128 bits, hashed at rest). A fast hash is right
// here, unlike for passwords: the token has full entropy, so nothing can be guessed from it.
import { createHash, randomBytes } from 'node:crypto';

const TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;

export function newLinkToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashLinkToken(token)! };
}

/** The stored form of a token; null for a string that cannot be one (no store trip for it). */
export function hashLinkToken(token: string): string | null {
  if (!TOKEN_RE.test(token)) return null;
  return createHash('sha256').update(token).digest('hex');
}
