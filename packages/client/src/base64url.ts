/** RFC 4648 §5 without padding, as JWS (RFC 7515 §2) wants it; `btoa` is the only encoder every runtime has. */
export function base64url(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let binary = '';
  for (const byte of view) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function base64urlOfText(text: string): string {
  return base64url(new TextEncoder().encode(text));
}
