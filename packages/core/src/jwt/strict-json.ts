// JSON.parse keeps the last of duplicate keys, so `{"sub":"a","sub":"b"}` would mean different
// things to different parsers. RFC 7515 §5.2 / RFC 8725 §3.x: refuse duplicate member names
// instead of picking one. Also bounds nesting, since token parts come from attackers.

const MAX_DEPTH = 16;

export class StrictJsonError extends Error {}

/** Parses `text` as a JSON object, refusing duplicate keys (after escape decoding) and deep nesting. */
export function parseStrictJsonObject(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new StrictJsonError('not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new StrictJsonError('not an object');
  assertNoDuplicateKeys(text);
  return value as Record<string, unknown>;
}

/** Walks already-valid JSON text; each object keeps the set of keys it has seen. Also used on request bodies. */
export function assertNoDuplicateKeys(text: string): void {
  const stack: Array<Set<string> | null> = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{') {
      stack.push(new Set());
      if (stack.length > MAX_DEPTH) throw new StrictJsonError('too deep');
      expectKey = true;
    } else if (c === '[') {
      stack.push(null);
      if (stack.length > MAX_DEPTH) throw new StrictJsonError('too deep');
      expectKey = false;
    } else if (c === '}' || c === ']') {
      stack.pop();
      expectKey = false;
    } else if (c === ',') {
      expectKey = stack[stack.length - 1] instanceof Set;
    } else if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        const keys = stack[stack.length - 1] as Set<string>;
        if (keys.has(key)) throw new StrictJsonError('duplicate key');
        keys.add(key);
        expectKey = false;
      }
      i = j;
    }
  }
}
