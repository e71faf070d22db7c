// The URL a DPoP proof's `htu` must name (RFC 9449 §4.3 check 9) is the one the client called.
// Behind a proxy that is not what this process sees, so the adapters take the public base URL
// as an option; without it they derive it from the request, which trusts its Host header.
import { requestHtu } from '@latchkey/core';

/** Checks a `publicUrl` option at setup: an absolute http(s) URL, optionally with a path prefix. */
export function checkPublicUrl(publicUrl: string | undefined, who: string): string | null {
  if (publicUrl === undefined) return null;
  let u: URL;
  try {
    u = new URL(publicUrl);
  } catch {
    throw new TypeError(`${who}: publicUrl must be an absolute http(s) URL`);
  }
  if ((u.protocol !== 'https:' && u.protocol !== 'http:') || u.search !== '' || u.hash !== '' || u.username !== '' || u.password !== '') {
    throw new TypeError(`${who}: publicUrl must be an http(s) URL without query, fragment or credentials`);
  }
  return publicUrl;
}

/** A Host header that is a host and an optional port, nothing that would add a path, userinfo or query. */
const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * The request's public URL: `publicUrl` + the request target's path, or, without `publicUrl`,
 * the request's own protocol and Host. '' when there is none to be had (no Host, a Host that
 * is not one), which no proof matches.
 */
export function publicRequestUrl(publicUrl: string | null, protocol: string, host: string | undefined, target: string): string {
  try {
    const base = publicUrl ?? (host !== undefined && HOST.test(host) ? `${protocol}://${host}` : null);
    return base === null ? '' : (requestHtu(base, target) ?? '');
  } catch {
    return '';
  }
}
