/**
 * Why the session ended (the README's table says what to tell the user):
 * - `reuse_detected`: an older refresh token of the session was replayed (server reason
 *   `refresh_token_reused`), a theft; the server revoked the session;
 * - `dpop_key_mismatch`: the key-bound session's refresh token was used without its key (another
 *   key's proof, or none), i.e. a copy; the server revoked the session;
 * - `expired`: the session's lifetime or idle timeout was reached (`session_expired`), no theft;
 * - `revoked`: ended elsewhere, by an operator, evicted, or refused otherwise (`session_ended`, …);
 * - `logout`: this client or another tab signed out;
 * - `dpop_key_lost`: the session is bound to a proof key this browser no longer has (site data cleared).
 */
export type SignedOutReason = 'logout' | 'expired' | 'reuse_detected' | 'revoked' | 'dpop_key_lost' | 'dpop_key_mismatch';

/** Payloads deliberately carry no tokens, so logging an event can't leak one. */
export interface ClientEvents {
  /** Tokens changed: signed in, renewed by this client, or adopted from another tab. */
  session: { reason: 'signup' | 'login' | 'refresh' | 'adopted'; expiresAt: number; sessionId?: string; /** The session is DPoP-bound: its tokens are useless without this device's key. */ keyBound: boolean };
  signedout: { reason: SignedOutReason };
  /** Fired each time this client sends a refresh request (not when it adopts another tab's tokens). */
  refresh: { at: number };
}

export type Unsubscribe = () => void;

export class Emitter<M extends object> {
  readonly #handlers = new Map<keyof M, Set<(payload: never) => void>>();

  on<K extends keyof M>(event: K, handler: (payload: M[K]) => void): Unsubscribe {
    let set = this.#handlers.get(event);
    if (!set) this.#handlers.set(event, (set = new Set()));
    const entry = handler as (payload: never) => void;
    set.add(entry);
    return () => {
      set.delete(entry);
    };
  }

  emit<K extends keyof M>(event: K, payload: M[K]): void {
    for (const handler of [...(this.#handlers.get(event) ?? [])]) {
      try {
        (handler as (payload: M[K]) => void)(payload);
      } catch (error) {
        // A broken listener must not abort a refresh half-way; surface it like DOM events do.
        reportAsync(error);
      }
    }
  }

  clear(): void {
    this.#handlers.clear();
  }
}

function reportAsync(error: unknown): void {
  const report = (globalThis as { reportError?: (error: unknown) => void }).reportError;
  if (typeof report === 'function') report(error);
  else
    queueMicrotask(() => {
      throw error;
    });
}
