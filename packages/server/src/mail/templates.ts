// Text and HTML bodies per message kind. Everything interpolated is escaped for HTML; the only
// inputs are the product name (operator's configuration) and a link this server built.
import type { MailKind } from './message.js';

export interface MailBranding {
  productName: string;
}

export interface Rendered {
  subject: string;
  text: string;
  html: string;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

interface Template {
  subject: (p: string) => string;
  /** Paragraphs before the link (if any). */
  lead: (p: string) => string[];
  action?: string;
  /** Paragraphs after the link. */
  tail: (p: string) => string[];
}

const NOT_YOU = 'If this was not you, you can ignore this message.';
const CHANGED_NOT_YOU = (p: string) => `If you did not do this, reset your password at once and contact the ${p} team.`;

const TEMPLATES: Record<MailKind, Template> = {
  verify_email: {
    subject: (p) => `Confirm your email address for ${p}`,
    lead: (p) => [`Please confirm that this address belongs to your ${p} account.`],
    action: 'Confirm my address',
    tail: () => ['The link works once and expires in 24 hours.', NOT_YOU],
  },
  reset_password: {
    subject: (p) => `Reset your ${p} password`,
    lead: (p) => [`Someone asked to reset the password of the ${p} account for this address.`],
    action: 'Choose a new password',
    tail: () => ['The link works once and expires in 30 minutes. Setting a new password signs you out everywhere.', NOT_YOU],
  },
  password_changed: {
    subject: (p) => `Your ${p} password was changed`,
    lead: (p) => [`The password of your ${p} account was just changed.`],
    tail: (p) => [CHANGED_NOT_YOU(p)],
  },
  email_change_requested: {
    subject: (p) => `Confirm your new email address for ${p}`,
    lead: (p) => [`Someone asked to move a ${p} account to this address. Nothing changes until you confirm.`],
    action: 'Confirm the new address',
    tail: () => ['The link works once and expires in 24 hours.', NOT_YOU],
  },
  email_changed: {
    subject: (p) => `Your ${p} email address is changing`,
    lead: (p) => [`Someone asked to move your ${p} account to another address. It changes only once the new address confirms.`],
    tail: (p) => [CHANGED_NOT_YOU(p)],
  },
  account_deleted: {
    subject: (p) => `Your ${p} account was deleted`,
    lead: (p) => [`Your ${p} account and its sessions were deleted.`],
    tail: (p) => [`If you did not do this, contact the ${p} team.`],
  },
};

export function renderMail(kind: MailKind, brand: MailBranding, link: string | null): Rendered {
  const t = TEMPLATES[kind];
  const p = brand.productName;
  const lead = t.lead(p);
  const tail = t.tail(p);
  const textParts = [...lead, ...(link && t.action ? [`${t.action}: ${link}`] : []), ...tail, `— ${p}`];
  const para = (s: string) => `<p>${escapeHtml(s)}</p>`;
  const button = link && t.action ? `<p><a href="${escapeHtml(link)}">${escapeHtml(t.action)}</a></p><p>${escapeHtml(link)}</p>` : '';
  const html = `<!doctype html><html><body>${lead.map(para).join('')}${button}${tail.map(para).join('')}<p>— ${escapeHtml(p)}</p></body></html>`;
  return { subject: t.subject(p), text: textParts.join('\n\n') + '\n', html };
}

/**
 * A link under LATCHKEY_APP_URL carrying its token as the `token` query parameter (issue 10):
 * `path` is relative to the app URL, so an app served under a path prefix keeps it.
 */
export function accountLink(appUrl: string, path: string, token: string): string {
  const base = appUrl.endsWith('/') ? appUrl : `${appUrl}/`;
  const u = new URL(path, base);
  u.searchParams.set('token', token);
  return u.toString();
}
