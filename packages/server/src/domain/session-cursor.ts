// The cursor of GET /auth/sessions pages: the (createdAt, id) of the last session of a page, as
// `<createdAt ms>.<session id>`. Clients treat it as opaque; the server refuses anything else.
import { isSessionId } from './refresh-token.js';

export interface SessionCursor {
  createdAt: number;
  id: string;
}

export const encodeSessionCursor = (c: SessionCursor): string => `${c.createdAt}.${c.id}`;

/** The cursor, or null if `raw` is not one this server could have written. */
export function decodeSessionCursor(raw: string): SessionCursor | null {
  const m = /^(\d{1,15})\.([A-Za-z0-9_-]{22})$/.exec(raw);
  if (!m || !isSessionId(m[2]!)) return null;
  return { createdAt: Number(m[1]), id: m[2]! };
}
