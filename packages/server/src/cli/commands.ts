// The `latchkey` command tree. A command either runs or groups subcommands, so the operator
// commands to come (`latchkey users …`, `latchkey sessions …`, `latchkey keys …`) are entries in
// this tree with their own options, parsed by node:util parseArgs: no CLI framework to install.
import type { ParseArgsConfig } from 'node:util';

export interface CommandContext {
  /** Positional arguments after the command's name. */
  positionals: string[];
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  env: NodeJS.ProcessEnv;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export interface Command {
  name: string;
  summary: string;
  /** Text after "Usage: latchkey <path>". */
  usage?: string;
  options?: NonNullable<ParseArgsConfig['options']>;
  /** Resolves to the exit code; a command that keeps running (start) resolves once it is up. */
  run?: (ctx: CommandContext) => Promise<number | 'running'>;
  subcommands?: Command[];
}

export const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;
