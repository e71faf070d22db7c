/**
 * Reads the `sid` claim WITHOUT verifying the token. It is used only as a label (to spot
 * "this is my session" in listings and across tabs), never for trust and never for timing:
 * expiry comes from `expires_in` on the local clock, because comparing the JWT `exp` with a
 * device clock that is hours off would renew constantly or never.
 */
export function readUnverifiedSessionId(jwt: string): string | undefined {
  const payload = jwt.split('.')[1];
  if (!payload) return undefined;
  try {
    const claims: unknown = JSON.parse(decodeBase64Url(payload));
    if (typeof claims !== 'object' || claims === null) return undefined;
    const sid = (claims as { sid?: unknown }).sid;
    return typeof sid === 'string' ? sid : undefined;
  } catch {
    return undefined;
  }
}

function decodeBase64Url(segment: string): string {
  const base64 = segment.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  const bytes = Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}
