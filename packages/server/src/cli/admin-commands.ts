// Operator commands: `latchkey users …`, `latchkey sessions …`, `latchkey keys …`,
// `latchkey admin-keys …`. They run the admin API's use cases (auth/admin.ts) against the stores
// the LATCHKEY_* variables configure, so they work with no server running, and what they revoke
// reaches running servers: over Redis pub/sub in scale-out, by the embedded server polling its
// SQLite file otherwise (within a second).
import { RevocationSet } from '@latchkey/core';
import pino from 'pino';
import {
  createAdminKey,
  deleteUser,
  disableUser,
  enableUser,
  endAllUserSessions,
  endUserSession,
  listAdminKeys,
  listKeys,
  listUserSessions,
  listUsers,
  MAX_PAGE,
  revokeAdminKey,
  rotateMacKeyNow,
  rotateSigningKeyNow,
  showUser,
  type AdminContext,
} from '../auth/admin.js';
import type { SecurityEventSink } from '../auth/events.js';
import { sessionPageQuery } from '../auth/sessions.js';
import { ConfigError, loadConfig } from '../config.js';
import { AuthError } from '../domain/errors.js';
import { openStores } from '../store/open.js';
import type { Command, CommandContext } from './commands.js';

const JSON_OPTION = { json: { type: 'boolean' } } as const;

/** Opens the configured stores, runs `work`, closes them; errors become one line and exit 1. */
async function withStores(c: CommandContext, work: (ctx: AdminContext) => Promise<unknown>, human: (result: never) => string, exitCode: (result: never) => number = () => 0): Promise<number> {
  let config;
  try {
    config = loadConfig(c.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      c.stderr.write(`latchkey: invalid configuration: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  // Security events as JSON lines on stderr, like the server's: stdout is the command's answer.
  const log = pino({ level: 'info', base: { source: 'cli' } }, pino.destination(2));
  const events: SecurityEventSink = (e) => log.info({ ...e, security: true }, e.event);
  const stores = await openStores(config);
  const ctx: AdminContext = { config, stores, events, now: Date.now, revoked: new RevocationSet(Date.now) };
  try {
    const result = await work(ctx);
    c.stdout.write(c.values.json === true ? `${JSON.stringify(result, null, 2)}\n` : human(result as never));
    return exitCode(result as never);
  } catch (e) {
    if (e instanceof AuthError) {
      c.stderr.write(`latchkey: ${e.publicDescription} (${e.reason})\n`);
      return 1;
    }
    throw e;
  } finally {
    log.flush();
    await stores.close();
  }
}

/** A user named by id or by email address, as an operator would type it. */
async function userId(ctx: AdminContext, who: string): Promise<string> {
  if (!who.includes('@')) return who;
  const u = await ctx.stores.users.findUserByEmail(who.trim().toLowerCase());
  return u?.id ?? who;
}

function needArgs(c: CommandContext, n: number, usage: string): string[] | null {
  if (c.positionals.length !== n) {
    c.stderr.write(`latchkey: expected ${usage}\n`);
    return null;
  }
  return c.positionals;
}

function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return `${rows.map((r) => r.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n')}\n`;
}

const USER = '<user id or email>';

type AdminUserOut = { id: string; email: string; createdAt: string; disabled: boolean };

const userLine = (u: AdminUserOut & { sessions?: number; sessionsEnded?: number }) =>
  `${u.id}  ${u.email}  ${u.disabled ? 'disabled' : 'enabled'}  created ${u.createdAt}${u.sessions !== undefined ? `  ${u.sessions} sessions` : ''}${u.sessionsEnded !== undefined ? `  (${u.sessionsEnded} sessions ended)` : ''}\n`;

/** A command taking exactly the positional arguments `usage` names (one per `<…>`), with --json. */
function argsCommand(name: string, summary: string, usage: string, run: (ctx: AdminContext, args: string[]) => Promise<unknown>, human: (r: never) => string): Command {
  const count = usage.split('<').length - 1;
  return {
    name,
    summary,
    usage,
    options: JSON_OPTION,
    run: async (c) => {
      const args = needArgs(c, count, usage);
      if (!args) return 2;
      return withStores(c, (ctx) => run(ctx, args), human);
    },
  };
}

/** A command on one user, named by id or email. */
function userCommand(name: string, summary: string, run: (ctx: AdminContext, id: string) => Promise<unknown>, human: (r: never) => string): Command {
  return argsCommand(name, summary, USER, async (ctx, [who]) => run(ctx, await userId(ctx, who!)), human);
}

type Rotation = { rotated: boolean; id: string; activatesAt: string };
const rotationLine = (what: string) => (r: Rotation) =>
  r.rotated ? `${what} ${r.id} added; in use from ${r.activatesAt}\n` : `not rotated: ${what} ${r.id} is already pending (in use from ${r.activatesAt})\n`;
/** 3: nothing was rotated because another rotation is pending (scripts can tell it from a failure, 1). */
const rotationExit = (r: Rotation) => (r.rotated ? 0 : 3);

export const adminCommands: Command[] = [
  {
    name: 'users',
    summary: 'list, show, disable, enable and delete users',
    subcommands: [
      {
        name: 'list',
        summary: 'users in email order, a page at a time',
        options: { ...JSON_OPTION, email: { type: 'string' }, limit: { type: 'string' }, after: { type: 'string' } },
        run: (c) => {
          const limit = c.values.limit === undefined ? 50 : Number(c.values.limit);
          if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
            c.stderr.write(`latchkey: --limit must be an integer from 1 to ${MAX_PAGE}\n`);
            return Promise.resolve(2);
          }
          return withStores(
            c,
            (ctx) => listUsers(ctx, { limit, after: (c.values.after as string | undefined) ?? null, email: (c.values.email as string | undefined) ?? null }),
            (r: { users: AdminUserOut[]; next: string | null }) =>
              table([['ID', 'EMAIL', 'STATE', 'CREATED'], ...r.users.map((u) => [u.id, u.email, u.disabled ? 'disabled' : 'enabled', u.createdAt])]) +
              (r.next ? `(more: --after ${r.next})\n` : ''),
          );
        },
      },
      userCommand('show', 'one user, with the number of live sessions', (ctx, id) => showUser(ctx, id), userLine),
      userCommand('disable', 'end every session now and refuse login until enabled', (ctx, id) => disableUser(ctx, id, 'cli'), userLine),
      userCommand('enable', 'allow login again', (ctx, id) => enableUser(ctx, id, 'cli'), userLine),
      userCommand('delete', 'delete the user and end every session', (ctx, id) => deleteUser(ctx, id, 'cli'), (r: { sessionsEnded: number }) => `deleted (${r.sessionsEnded} sessions ended)\n`),
    ],
  },
  {
    name: 'sessions',
    summary: "list and end a user's sessions",
    subcommands: [
      {
        name: 'list',
        summary: "a user's live sessions, oldest first, a page at a time",
        usage: USER,
        options: { ...JSON_OPTION, limit: { type: 'string' }, cursor: { type: 'string' } },
        run: (c) => {
          const args = needArgs(c, 1, USER);
          if (!args) return Promise.resolve(2);
          let page;
          try {
            page = sessionPageQuery({ limit: c.values.limit as string | undefined, cursor: c.values.cursor as string | undefined });
          } catch (e) {
            if (!(e instanceof AuthError)) throw e;
            c.stderr.write(`latchkey: --${e.publicDescription}\n`);
            return Promise.resolve(2);
          }
          return withStores(
            c,
            async (ctx) => listUserSessions(ctx, await userId(ctx, args[0]!), page),
            (r: { sessions: Array<{ id: string; clientId: string; device: string; createdAt: string; lastUsedAt: string }>; next_cursor: string | null }) =>
              table([['SESSION', 'CLIENT', 'DEVICE', 'CREATED', 'LAST USED'], ...r.sessions.map((s) => [s.id, s.clientId, s.device, s.createdAt, s.lastUsedAt])]) +
              (r.next_cursor ? `(more: --cursor ${r.next_cursor})\n` : ''),
          );
        },
      },
      argsCommand(
        'end',
        'end one session now',
        `${USER} <session id>`,
        async (ctx, [who, sid]) => {
          await endUserSession(ctx, await userId(ctx, who!), sid!, 'cli');
          return { ended: sid };
        },
        () => 'ended\n',
      ),
      userCommand('end-all', "end every one of a user's sessions now", (ctx, id) => endAllUserSessions(ctx, id, 'cli'), (r: { sessionsEnded: number }) => `${r.sessionsEnded} sessions ended\n`),
    ],
  },
  {
    name: 'keys',
    summary: 'signing keys and refresh-token MAC secrets',
    subcommands: [
      {
        name: 'list',
        summary: 'signing keys and MAC secrets with their state (pending, active, retired, expired) and dates; never key material',
        options: JSON_OPTION,
        run: (c) =>
          withStores(
            c,
            (ctx) => listKeys(ctx),
            (r: Array<{ kind: string; id: string; alg: string | null; state: string; createdAt: string; activatesAt: string; retiredAt: string | null }>) =>
              table([['KIND', 'ID', 'ALG', 'STATE', 'CREATED', 'ACTIVE FROM', 'RETIRED'], ...r.map((k) => [k.kind, k.id, k.alg ?? '', k.state, k.createdAt, k.activatesAt, k.retiredAt ?? ''])]),
          ),
      },
      {
        name: 'rotate',
        summary: 'add a new signing key: published at once, signing after LATCHKEY_KEY_PUBLISH_LEAD; the old one stays published until its tokens expire',
        options: JSON_OPTION,
        run: (c) => withStores(c, (ctx) => rotateSigningKeyNow(ctx, 'cli'), rotationLine('signing key'), rotationExit),
      },
      {
        name: 'rotate-mac',
        summary: 'add a new refresh-token MAC secret, used after LATCHKEY_KEY_PUBLISH_LEAD; old ones verify until no session can hold their tokens',
        options: JSON_OPTION,
        run: (c) => withStores(c, (ctx) => rotateMacKeyNow(ctx, 'cli'), rotationLine('MAC secret'), rotationExit),
      },
    ],
  },
  {
    name: 'admin-keys',
    summary: 'API keys for the admin API on the management listener',
    subcommands: [
      argsCommand('create', 'a new admin API key, printed once', '<name>', (ctx, [name]) => createAdminKey(ctx, name!, 'cli'), (r: { id: string; key: string }) => `${r.key}\n(admin key ${r.id}: shown once, store it now)\n`),
      {
        name: 'list',
        summary: 'admin API keys (ids and names, never the keys)',
        options: JSON_OPTION,
        run: (c) =>
          withStores(c, (ctx) => listAdminKeys(ctx), (r: Array<{ id: string; name: string; createdAt: string; revokedAt: string | null }>) =>
            table([['ID', 'NAME', 'CREATED', 'REVOKED'], ...r.map((k) => [k.id, k.name, k.createdAt, k.revokedAt ?? ''])]),
          ),
      },
      argsCommand(
        'revoke',
        'revoke an admin API key at once',
        '<key id>',
        async (ctx, [id]) => {
          await revokeAdminKey(ctx, id!, 'cli');
          return { revoked: id };
        },
        () => 'revoked\n',
      ),
    ],
  },
];
