// RFC 9449 §4.3 check 9: `htu` is compared without query and fragment, after syntax- and
// scheme-based normalisation (RFC 3986 §6.2.2, §6.2.3). The WHATWG URL parser performs both:
// lower-cased scheme and host, default port dropped, dot segments resolved, percent-encoding
// of unreserved characters left as the parser canonicalises it.

/** The URL as a proof's `htu` must name it, or null if it is not an absolute http(s) URL. */
export function normalizeHtu(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return null;
  // Userinfo has no place in a request target; a proof naming one names some other request.
  if (u.username !== '' || u.password !== '') return null;
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/**
 * The public URL of a request, from the deployment's public base (what clients call: behind a
 * proxy, not what the process sees) and the request's path. `base` may carry a path prefix.
 */
export function requestHtu(publicBase: string, requestPath: string): string | null {
  const base = new URL(publicBase);
  const q = requestPath.search(/[?#]/);
  const path = q === -1 ? requestPath : requestPath.slice(0, q);
  const prefix = base.pathname.replace(/\/+$/, '');
  return normalizeHtu(`${base.protocol}//${base.host}${prefix}${path.startsWith('/') ? path : `/${path}`}`);
}
