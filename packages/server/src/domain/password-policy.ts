// Which new passwords are refused (ASVS 5.0 V6.2.4 / 6.2.11, NIST SP 800-63B §3.1.1.2): fewer than
// the minimum characters (the request schema enforces 8, counted as typed, never truncated or
// normalised: V6.2.1/6.2.9), one of the most common passwords (compared case-insensitively, so
// "Password" goes with "password"), a single repeated character ("        ", "aaaaaaaa"), or the
// account's email address or its local part. No composition rules (V6.2.5). Pure: the list is
// handed in (auth/common-passwords.ts loads it).
export type PasswordRule = 'password_common' | 'password_matches_email';

export type PasswordCheck = { ok: true } | { ok: false; rule: PasswordRule; description: string };

export interface PasswordPolicy {
  /** Lower-cased common passwords. */
  common: ReadonlySet<string>;
}

export function checkNewPassword(policy: PasswordPolicy, password: string, email: string): PasswordCheck {
  const folded = password.toLowerCase();
  if (policy.common.has(folded)) return { ok: false, rule: 'password_common', description: 'password is among the most common passwords' };
  if ([...password].every((c, _i, all) => c === all[0])) return { ok: false, rule: 'password_common', description: 'password is a single repeated character' };
  const local = email.slice(0, email.lastIndexOf('@'));
  const plain = folded.normalize('NFC').trim();
  if (plain === email || plain === local) return { ok: false, rule: 'password_matches_email', description: 'password must not be the email address or its local part' };
  return { ok: true };
}
