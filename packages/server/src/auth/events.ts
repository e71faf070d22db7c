// Security events (ASVS 5.0 V16.3): who, what, which session; never a token, password or secret.
export type SecurityEventName =
  | 'signup.succeeded'
  | 'login.succeeded'
  | 'login.failed'
  | 'login.throttled'
  | 'session.created'
  | 'session.rotated'
  | 'session.grace_replay'
  | 'session.revoked'
  /** Many of one user's sessions ended at once (end all, disabled account): one event per batch, with `count`. */
  | 'sessions.revoked'
  | 'session.reuse_detected'
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
  | 'admin.refused';

export interface SecurityEvent {
  event: SecurityEventName;
  userId?: string;
  sessionId?: string;
  clientId?: string;
  reason?: string;
  ip?: string;
  generation?: number;
  /** Who took an admin action: `key:<admin key id>` (admin API) or `cli`. */
  actor?: string;
  /** Admin events: the user acted on, when it is not the actor. */
  targetUserId?: string;
  /** Admin key events: the key's public id (never the key). */
  keyId?: string;
  /** sessions.revoked: how many in this batch. */
  count?: number;
}

export type SecurityEventSink = (e: SecurityEvent) => void;
