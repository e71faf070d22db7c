#!/usr/bin/env node
// The `latchkey` executable: `latchkey start` runs the server; `latchkey --help` lists commands.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { HELP_OPTION, type Command } from './cli/commands.js';
import { start } from './cli/start.js';
import { adminCommands } from './cli/admin-commands.js';

const VERSION = (JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;

const root: Command = {
  name: 'latchkey',
  summary: 'self-hosted authentication server',
  subcommands: [
    {
      name: 'start',
      summary: 'run the server (configured by LATCHKEY_* environment variables; see the README)',
      run: async (ctx) => {
        await start(ctx.env);
        return 'running';
      },
    },
    ...adminCommands,
  ],
};

function helpText(path: string[], cmd: Command): string {
  const lines = [`Usage: ${path.join(' ')}${cmd.subcommands ? ' <command>' : ''}${cmd.usage ? ` ${cmd.usage}` : ''}`, '', cmd.summary];
  if (cmd.subcommands) {
    lines.push('', 'Commands:');
    const width = Math.max(...cmd.subcommands.map((c) => c.name.length));
    for (const c of cmd.subcommands) lines.push(`  ${c.name.padEnd(width)}  ${c.summary}`);
  }
  const options = { ...cmd.options, ...HELP_OPTION, ...(cmd === root ? { version: { type: 'boolean' } } : {}) };
  lines.push('', 'Options:');
  for (const [name, o] of Object.entries(options)) {
    const short = 'short' in o && o.short ? `-${o.short}, ` : '    ';
    lines.push(`  ${short}--${name}${o.type === 'string' ? ' <value>' : ''}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Walks the tree along the arguments, then parses the options of the command it lands on. */
export async function runCli(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number | 'running'> {
  const path = ['latchkey'];
  let cmd = root;
  let rest = argv;
  while (cmd.subcommands && rest[0] !== undefined && !rest[0].startsWith('-')) {
    const next = cmd.subcommands.find((c) => c.name === rest[0]);
    if (!next) {
      process.stderr.write(`latchkey: unknown command "${rest[0]}"\n\n${helpText(path, cmd)}`);
      return 2;
    }
    path.push(next.name);
    cmd = next;
    rest = rest.slice(1);
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...cmd.options, ...HELP_OPTION, ...(cmd === root ? { version: { type: 'boolean' } } : {}) },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    // Session and key ids are base64url and may start with '-', which parses as an option.
    const hint = (e as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? " (an argument that starts with '-' goes after --)" : '';
    process.stderr.write(`latchkey: ${(e as Error).message}${hint}\n\n${helpText(path, cmd)}`);
    return 2;
  }
  if (parsed.values.version === true) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (parsed.values.help === true || !cmd.run) {
    const stream = parsed.values.help === true ? process.stdout : process.stderr;
    stream.write(helpText(path, cmd));
    return parsed.values.help === true ? 0 : 2;
  }
  return cmd.run({ positionals: parsed.positionals, values: parsed.values, env, stdout: process.stdout, stderr: process.stderr });
}

runCli(process.argv.slice(2)).then(
  (code) => {
    if (code !== 'running') process.exitCode = code;
  },
  (err: unknown) => {
    // A store that cannot be reached (say) stops any command with one line, never a stack trace.
    const what = process.argv[2] === 'start' ? 'failed to start' : 'failed';
    process.stderr.write(`latchkey: ${what}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
