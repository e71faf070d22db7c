const B64URL = /^[A-Za-z0-9_-]*$/;

/** Decodes canonical unpadded base64url only: padding, other alphabets and altered unused bits are refused. */
export function decodeBase64urlStrict(s: string): Buffer | null {
  if (!B64URL.test(s) || s.length % 4 === 1) return null;
  const buf = Buffer.from(s, 'base64url');
  return buf.toString('base64url') === s ? buf : null;
}

export function encodeJsonPart(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}
