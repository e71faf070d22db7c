// Security events (ASVS 5.0 V16.3): who, what, which session; never a token, password or secret.
export type SecurityEventName =
  | 'signup.succeeded'
  | 'login.succeeded'
  | 'login.failed'
  | 'login.throttled'
  | 'signup.throttled'
  | 'session.created'
  | 'session.rotated'
  | 'session.grace_replay'
  | 'session.revoked'
  /** Many of one user's sessions ended at once (end all, disabled account): one event per batch, with `count`. */
  | 'sessions.revoked'
  | 'session.reuse_detected'
  | 'session.key_mismatch'
  | 'dpop.proof_refused'
  | 'session.future_generation'
  | 'session.expired'
  | 'login.disabled_account'
  | 'admin.user_disabled'
  | 'admin.user_enabled'
  | 'admin.user_deleted'
  | 'admin.session_ended'
  | 'admin.sessions_ended'
  | 'admin.key_created'
  | 'admin.key_revoked'
  | 'admin.refused'
  | 'keys.rotated'
  | 'email.verification_sent'
  | 'email.verified'
  | 'email.verify_failed'
  | 'login.unverified_email'
  | 'password.reset_requested'
  | 'password.reset_throttled'
  | 'password.reset'
  | 'password.reset_failed'
  | 'password.changed'
  | 'password.change_failed'
  | 'email.change_requested'
  | 'email.change_failed'
  | 'email.changed'
  | 'account.deleted'
  | 'account.delete_failed';

export interface SecurityEvent {
  event: SecurityEventName;
  userId?: string;
  sessionId?: string;
  clientId?: string;
  /**
   * Why, in a stable word. For a session that ended: `reuse` (session.reuse_detected: an older
   * refresh token replayed), `copy` (session.key_mismatch: a key-bound session's token without its
   * key), `idle` / `absolute` (session.expired), or how it was ended (session.revoked,
   * sessions.revoked: logout, ended_by_user, ended_others, ended_all, revoked_by_client,
   * max_sessions, password_changed, password_reset, user_disabled, user_deleted, ended_by_admin,
   * account_deleted).
   */
  reason?: string;
  ip?: string;
  generation?: number;
  /** Who took an admin action: `key:<admin key id>` (admin API) or `cli`. */
  actor?: string;
  /** Admin events: the user acted on, when it is not the actor. */
  targetUserId?: string;
  /** Admin key events: the key's public id (never the key). */
  keyId?: string;
  /** keys.rotated: which kind of key got a pending successor (its id; never material). */
  keyKind?: 'signing' | 'mac';
  /** keys.rotated: when the new key starts being used (ms epoch). */
  activatesAt?: number;
  /** sessions.revoked: how many in this batch. */
  count?: number;
  /** session.created: whether the session is bound to a DPoP key (issue 11). */
  dpop?: boolean;
}

export type SecurityEventSink = (e: SecurityEvent) => void;
