import { LatchkeyError } from './errors.js';

/** Timestamps are passed through as the server sends them (ISO 8601 strings). */
export interface User {
  id: string;
  email: string;
  createdAt: string;
  /** Whether the address was confirmed by the link the server mailed to it. */
  emailVerified: boolean;
}

export interface SessionInfo {
  id: string;
  createdAt: string;
  lastUsedAt: string;
  /** Short label derived from the User-Agent that created the session. */
  device: string;
  /** True for the session this client is signed in with. */
  current: boolean;
}

function invalid(what: string): LatchkeyError {
  return new LatchkeyError('invalid_response', `the server sent a malformed ${what}`);
}

/** An object from the wire whose listed fields are not yet checked. */
type Unchecked<K extends string> = { [P in K]?: unknown };

function isObject<K extends string>(value: unknown): value is Unchecked<K> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function toUser(value: unknown): User {
  if (!isObject<'id' | 'email' | 'createdAt' | 'email_verified'>(value) || typeof value.id !== 'string' || typeof value.email !== 'string') throw invalid('user');
  return { id: value.id, email: value.email, createdAt: value.createdAt as string, emailVerified: value.email_verified === true };
}

export function toSessionList(value: unknown): SessionInfo[] {
  if (!isObject<'sessions'>(value) || !Array.isArray(value.sessions)) throw invalid('session list');
  return value.sessions.map((entry: unknown): SessionInfo => {
    if (!isObject<'id' | 'createdAt' | 'lastUsedAt' | 'device' | 'current'>(entry) || typeof entry.id !== 'string') throw invalid('session');
    return {
      id: entry.id,
      createdAt: entry.createdAt as string,
      lastUsedAt: entry.lastUsedAt as string,
      device: typeof entry.device === 'string' ? entry.device : '',
      current: entry.current === true,
    };
  });
}
