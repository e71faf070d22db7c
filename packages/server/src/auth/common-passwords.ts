// The shipped list of the 100,000 most common passwords (assets/, SecLists, MIT: see its
// LICENSE file), loaded once per process into a set of lower-cased entries (~780 KB of text).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PasswordPolicy } from '../domain/password-policy.js';

// Two levels up from both src/auth (tests on sources) and dist/auth (the installed package).
export const COMMON_PASSWORDS_FILE = join(import.meta.dirname, '..', '..', 'assets', 'common-passwords-100k.txt');

let policy: PasswordPolicy | null = null;

export function passwordPolicy(): PasswordPolicy {
  if (policy === null) {
    const common = new Set<string>();
    for (const line of readFileSync(COMMON_PASSWORDS_FILE, 'utf8').split('\n')) if (line !== '') common.add(line.toLowerCase());
    policy = { common };
  }
  return policy;
}
