// Client-address canonicalisation for the rate limits (issue 12 item 4): every spelling of one
// client is one source, distinct clients stay distinct, and garbage never mints a source of its own.
import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { canonicalAddress, INVALID_SOURCE, sourceOf } from '../../packages/server/src/domain/client-address.js';

const octets = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255));
const port = fc.integer({ min: 0, max: 65_535 });
const hex4 = (n: number, pad: boolean, upper: boolean) => {
  const h = pad ? n.toString(16).padStart(4, '0') : n.toString(16);
  return upper ? h.toUpperCase() : h;
};

/** Every way a proxy or a client may write one IPv4 address, IPv4-mapped IPv6 included (RFC 4291 §2.5.5.2). */
const ipv4Spelling = fc.tuple(octets, fc.nat(7), port, fc.boolean(), fc.boolean()).map(([o, form, p, pad, upper]) => {
  const dotted = o.join('.');
  const hi = (o[0] << 8) | o[1];
  const lo = (o[2] << 8) | o[3];
  const ffff = upper ? 'FFFF' : 'ffff';
  const zeros = Array(5).fill(pad ? '0000' : '0').join(':');
  const spellings = [
    dotted,
    `${dotted}:${p}`,
    `::${ffff}:${dotted}`,
    `::${ffff}:${hex4(hi, pad, upper)}:${hex4(lo, pad, upper)}`,
    `${zeros}:${ffff}:${hex4(hi, pad, upper)}:${hex4(lo, pad, upper)}`,
    `${zeros}:${ffff}:${dotted}`,
    `[::${ffff}:${hex4(hi, pad, upper)}:${hex4(lo, pad, upper)}]:${p}`,
    `[0::${ffff}:${dotted}]`,
  ];
  return { dotted, spelling: spellings[form]! };
});

/** A native IPv6 address (not IPv4-mapped) as eight groups, and one of its spellings. */
const ipv6Spelling = fc
  .tuple(fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }), fc.nat(4), port, fc.boolean(), fc.boolean())
  .filter(([g]) => !(g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff))
  .map(([g, form, p, pad, upper]) => {
    const full = g.map((x) => hex4(x, pad, upper)).join(':');
    // Compress the longest run of zero groups, as RFC 5952 writes it (any run is valid).
    let best = [-1, 0];
    for (let i = 0; i < 8; i++) {
      let j = i;
      while (j < 8 && g[j] === 0) j++;
      if (j - i > best[1]!) best = [i, j - i];
    }
    const compressed =
      best[1]! >= 2 ? `${g.slice(0, best[0]).map((x) => hex4(x, false, upper)).join(':')}::${g.slice(best[0]! + best[1]!).map((x) => hex4(x, false, upper)).join(':')}` : full;
    const spellings = [full, compressed, `[${compressed}]:${p}`, `${compressed}%eth0`, `[${full}]`];
    return { groups: g, spelling: spellings[form]! };
  });

describe('client-address canonicalisation', () => {
  it('every spelling of an IPv4 address (with a port, IPv4-mapped dotted or hex, any case, expanded) is that address', () => {
    fc.assert(
      fc.property(ipv4Spelling, ({ dotted, spelling }) => {
        assert.equal(canonicalAddress(spelling), dotted, spelling);
        assert.equal(sourceOf(spelling), dotted, spelling);
      }),
      { numRuns: 2000 },
    );
  });

  it('every spelling of an IPv6 address is one canonical form, and its source is its /64', () => {
    fc.assert(
      fc.property(ipv6Spelling, ({ groups, spelling }) => {
        assert.equal(canonicalAddress(spelling), groups.map((x) => x.toString(16)).join(':'), spelling);
        assert.equal(sourceOf(spelling), `${groups.slice(0, 4).map((x) => x.toString(16)).join(':')}::/64`, spelling);
      }),
      { numRuns: 2000 },
    );
  });

  it('distinct IPv4 clients stay distinct, also in hex IPv4-mapped form (they used to collapse into one /64)', () => {
    fc.assert(
      fc.property(octets, octets, (a, b) => {
        fc.pre(a.join('.') !== b.join('.'));
        const hex = (o: number[]) => `::ffff:${(((o[0]! << 8) | o[1]!)).toString(16)}:${(((o[2]! << 8) | o[3]!)).toString(16)}`;
        assert.notEqual(sourceOf(hex(a)), sourceOf(hex(b)));
      }),
    );
    assert.equal(sourceOf('::ffff:c633:6409'), '198.51.100.9');
    assert.equal(sourceOf('0:0:0:0:0:FFFF:C633:6409'), '198.51.100.9');
    // ::ffff:0:0/96 (RFC 2765's IPv4-translated prefix) is not IPv4-mapped: an IPv6 address like any other.
    assert.equal(sourceOf('::ffff:0:c633:6409'), '0:0:0:0::/64');
  });

  it('anything that is not an address is one shared source, never a source of its own', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (s) => {
        fc.pre(s.trim() !== '' && canonicalAddress(s) === null);
        assert.equal(sourceOf(s), INVALID_SOURCE, s);
      }),
      { numRuns: 2000 },
    );
    for (const bad of ['garbage', '198.51.100.9:99999', '198.51.100.9:', '[2001:db8::1]:', '1.2.3', '01.2.3.4', '[1.2.3.4', '2001:db8::1:80:x', 'unknown', '::ffff:1.2.3.256'])
      assert.equal(sourceOf(bad), INVALID_SOURCE, bad);
    // Every answer that is not the shared one is a real address.
    for (const s of ['198.51.100.9:40001', '[2001:db8::1]:443']) assert.ok(isIP(canonicalAddress(s)!), s);
  });
});
