// The client address a rate limit keys on (issue 12 item 4). Behind a trusted proxy the address is
// whatever the X-Forwarded-For entry says, so it is parsed strictly: one spelling per client, or
// none. Each port of one host, each spelling of one IPv4-mapped address (RFC 4291 §2.5.5.2:
// ::ffff:0:0/96, dotted or hex, any case, compressed or expanded) is the same client; anything
// that is not an address at all shares one source, so inventing garbage never buys a fresh budget.
import { isIPv4, isIPv6 } from 'node:net';

/** The one source every unparseable address shares. */
export const INVALID_SOURCE = 'invalid';

/** `host:port` (IPv4) and `[v6]` / `[v6]:port` (RFC 3986 §3.2.2) as proxies write them; the bare address otherwise. */
function stripPort(raw: string): string {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(raw);
  if (bracketed) return bracketed[2] !== undefined && Number(bracketed[2]) > 65_535 ? '' : bracketed[1]!;
  const v4port = /^([\d.]+):(\d{1,5})$/.exec(raw);
  if (v4port) return Number(v4port[2]) > 65_535 ? '' : v4port[1]!;
  return raw;
}

/** The eight 16-bit groups of a valid IPv6 address (a dotted IPv4 tail becomes the last two). */
function groupsOf(v6: string): number[] {
  let text = v6.toLowerCase();
  const dotted = /(\d{1,3}(?:\.\d{1,3}){3})$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1]!.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const all = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return all.map((g) => parseInt(g, 16));
}

/**
 * The canonical spelling of a client address: dotted IPv4 (also for IPv4-mapped IPv6), or IPv6 as
 * eight lower-case groups without leading zeros and without a zone; null if it is not an address.
 */
export function canonicalAddress(raw: string): string | null {
  const bare = stripPort(raw.trim());
  if (isIPv4(bare)) return bare;
  const unzoned = bare.split('%', 1)[0]!;
  if (!isIPv6(unzoned)) return null;
  const g = groupsOf(unzoned);
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return `${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}`;
  return g.map((x) => x.toString(16)).join(':');
}

/** One source per IPv4 address and per IPv6 /64 (what one subscriber typically gets); null without an address. */
export function sourceOf(ip: string | undefined): string | null {
  if (!ip) return null;
  const canonical = canonicalAddress(ip);
  if (canonical === null) return INVALID_SOURCE;
  if (!canonical.includes(':')) return canonical;
  return `${canonical.split(':').slice(0, 4).join(':')}::/64`;
}
