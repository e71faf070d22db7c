// Email addresses as accounts are keyed by them (ASVS 5.0 V6.2; issue 10). Two strings that
// display alike must not become two accounts, and an address must not hide what it is:
//  - NFC, so a decomposed "é" (e + U+0301) is the same address as the composed one;
//  - trimmed; lower-cased whole (the domain by definition, the local part because every mailbox
//    provider we know treats it so, and because addresses were stored so before this rule);
//  - the domain in its ASCII (IDNA/UTS #46) form, so "bücher.de" and "xn--bcher-kva.de" are one;
//  - refused when it holds an unpaired UTF-16 surrogate, a bidi control (U+202E RLO…), or an
//    invisible character: format (Cf: zero-width space, soft hyphen, BOM…), control, unassigned,
//    private-use or default-ignorable code points;
//  - refused when one label (the local part, or one domain label) mixes Latin, Greek, Cyrillic or
//    other look-alike alphabets (UTS #39 mixed-script detection): "pаypal" with a Cyrillic "а"
//    is refused, an all-Cyrillic address is not. A whole-script look-alike (every letter
//    Cyrillic) is a different, legitimate mailbox: email verification, not this check, is what
//    stops anyone registering an address they cannot read.
// Pure: no I/O. Each refusal names its rule.
import { domainToASCII } from 'node:url';

export type EmailRule = 'email_unpaired_surrogate' | 'email_bidi_control' | 'email_invisible_character' | 'email_mixed_scripts' | 'email_malformed';

export type EmailCheck = { ok: true; email: string } | { ok: false; rule: EmailRule; description: string };

// Without the u flag a regex sees UTF-16 code units, so it can find a surrogate without its pair.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const BIDI_CONTROLS = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/u;
const INVISIBLE = /[\p{Cf}\p{Cc}\p{Cn}\p{Co}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]/u;
// Alphabets with letters that pass for one another; scripts not listed never count as mixing.
const LOOKALIKE_SCRIPTS = ['Latin', 'Greek', 'Cyrillic', 'Armenian', 'Cherokee', 'Coptic', 'Georgian'].map((s) => new RegExp(`\\p{Script=${s}}`, 'u'));
const LOCAL_PART = /^[^\s@]{1,64}$/u;
const ASCII_DOMAIN = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;

function mixesScripts(label: string): boolean {
  let seen = 0;
  for (const re of LOOKALIKE_SCRIPTS) if (re.test(label)) seen++;
  return seen > 1;
}

const refuse = (rule: EmailRule, description: string): EmailCheck => ({ ok: false, rule, description });

export function checkEmailAddress(raw: string): EmailCheck {
  if (LONE_SURROGATE.test(raw)) return refuse('email_unpaired_surrogate', 'email contains an unpaired surrogate');
  if (BIDI_CONTROLS.test(raw)) return refuse('email_bidi_control', 'email contains a bidirectional control character');
  const trimmed = raw.trim().normalize('NFC');
  if (INVISIBLE.test(trimmed)) return refuse('email_invisible_character', 'email contains an invisible or control character');
  const at = trimmed.lastIndexOf('@');
  if (at <= 0) return refuse('email_malformed', 'email is not a valid address');
  const local = trimmed.slice(0, at).toLowerCase();
  const domainRaw = trimmed.slice(at + 1);
  if (!LOCAL_PART.test(local)) return refuse('email_malformed', 'email is not a valid address');
  if (mixesScripts(local) || domainRaw.split('.').some(mixesScripts)) return refuse('email_mixed_scripts', 'email mixes look-alike alphabets (for example Latin and Cyrillic) in one part');
  const domain = domainToASCII(domainRaw).toLowerCase();
  if (!ASCII_DOMAIN.test(domain)) return refuse('email_malformed', 'email is not a valid address');
  const email = `${local}@${domain}`;
  if (email.length > 254) return refuse('email_malformed', 'email is not a valid address');
  return { ok: true, email };
}

/**
 * The lookup key for a login: the same normalisation, or (for a string that could never have
 * been registered) the plain trimmed lower-cased text, which then matches no account and is
 * answered like any unknown address (no rule is revealed at login).
 */
export function emailLookupKey(raw: string): string {
  const c = checkEmailAddress(raw);
  return c.ok ? c.email : raw.trim().toLowerCase();
}
