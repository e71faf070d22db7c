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
  | 'session.reuse_detected'
  | 'session.future_generation'
  | 'session.expired';

export interface SecurityEvent {
  event: SecurityEventName;
  userId?: string;
  sessionId?: string;
  clientId?: string;
  reason?: string;
  ip?: string;
  generation?: number;
}

export type SecurityEventSink = (e: SecurityEvent) => void;
