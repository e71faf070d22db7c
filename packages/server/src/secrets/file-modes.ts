// Start refuses a data dir or secrets file that other local users could write (swap in their own
// keys or database) or, for the key-encryption key, read: fixing the mode silently would hide that
// it was ever exposed (ASVS 5.0 V13.3.1: secrets protected at rest; V14.2.4 file permissions).
import { mkdirSync, statSync } from 'node:fs';

export class FileModeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FileModeError';
  }
}

const octal = (mode: number) => (mode & 0o777).toString(8).padStart(3, '0');

/** Refuses a group- or world-writable file (and, unless `readable`, a group- or world-readable one). Missing files pass. */
export function assertPrivateFile(path: string, what: string, opts: { readable: boolean }): void {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch {
    return;
  }
  const forbidden = opts.readable ? 0o022 : 0o077;
  if ((mode & forbidden) !== 0) {
    throw new FileModeError(
      `${what} ${path} has mode ${octal(mode)}: it must not be ${opts.readable ? 'writable' : 'readable or writable'} by group or others; run: chmod 600 '${path}'`,
    );
  }
}

/** Creates the data dir owner-only (0700), or refuses an existing one that others can write. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const mode = statSync(dir).mode;
  if ((mode & 0o022) !== 0) {
    throw new FileModeError(`the data directory ${dir} has mode ${octal(mode)}: it must not be writable by group or others; run: chmod 700 '${dir}'`);
  }
}
