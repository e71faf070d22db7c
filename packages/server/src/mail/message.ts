// What the account flows send. A message is rendered once, when it is queued: the queue only
// ever holds finished text, so a template change never reaches a message half-way through.
export type MailKind = 'verify_email' | 'reset_password' | 'password_changed' | 'email_change_requested' | 'email_changed' | 'account_deleted';

export interface MailMessage {
  /** Random, for log lines and de-duplication; never derived from the address or a token. */
  id: string;
  kind: MailKind;
  to: string;
  subject: string;
  text: string;
  html: string;
  /** The link the message carries (it holds a token): for the dev outbox only, never logged otherwise. */
  link: string | null;
  queuedAt: number;
}

/** Delivers one message or throws; the queue decides about retries. */
export interface MailTransport {
  readonly name: 'smtp' | 'outbox';
  send(message: MailMessage): Promise<void>;
  close(): Promise<void>;
}
