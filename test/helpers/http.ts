// Small fetch helpers so tests read as the HTTP exchanges they check.

export interface Res<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export async function call<T = any>(
  base: string,
  method: string,
  path: string,
  opts: { json?: unknown; form?: string; token?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Res<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  let body: string | undefined = opts.body;
  if (opts.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(opts.json);
  }
  if (opts.form !== undefined) {
    headers['content-type'] ??= 'application/x-www-form-urlencoded';
    body = opts.form;
  }
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const r = await fetch(base + path, { method, headers, body });
  const text = await r.text();
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: r.status, headers: r.headers, body: parsed as T, text };
}

export interface Tokens {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  token_type: string;
}

let counter = 0;
export function uniqueEmail(): string {
  return `user${process.pid}-${Date.now()}-${counter++}@example.com`;
}

export async function signup(base: string, email = uniqueEmail(), password = 'correct horse battery'): Promise<Tokens & { email: string; password: string; user: { id: string } }> {
  const r = await call(base, 'POST', '/auth/signup', { json: { email, password } });
  if (r.status !== 201) throw new Error(`signup failed: ${r.status} ${r.text}`);
  return { ...r.body, email, password };
}

export function refresh(base: string, refreshToken: string, clientId?: string) {
  return call<Tokens & { error?: string; error_description?: string }>(base, 'POST', '/auth/token', {
    json: { grant_type: 'refresh_token', refresh_token: refreshToken, ...(clientId ? { client_id: clientId } : {}) },
  });
}
