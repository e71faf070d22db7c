// Packs the workspace packages as `npm pack` would for the registry and installs the tarballs
// into fresh projects outside the repository, as a user would. Nothing here reaches into the
// repository's own node_modules on behalf of a consumer: each consumer resolves its imports from
// its own node_modules (the registry dependencies come from npm's cache or the registry).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runNode, type Ran } from '../helpers/cli.js';

export const REPO = join(import.meta.dirname, '..', '..');
export const PACKAGES = ['core', 'client', 'verify', 'server'] as const;
export type PackageDir = (typeof PACKAGES)[number];

export interface Tarball {
  dir: PackageDir;
  path: string;
  bytes: number;
  files: string[];
}

/** `npm pack` of every package (each one's prepack builds it) into a temporary folder. */
export function packAll(into: string): Record<PackageDir, Tarball> {
  const out = {} as Record<PackageDir, Tarball>;
  for (const dir of PACKAGES) {
    const before = new Set(readdirSync(into));
    execFileSync('npm', ['pack', '--silent', '--pack-destination', into], { cwd: join(REPO, 'packages', dir), stdio: ['ignore', 'ignore', 'inherit'] });
    const made = readdirSync(into).filter((f) => f.endsWith('.tgz') && !before.has(f));
    if (made.length !== 1) throw new Error(`npm pack in packages/${dir} made ${made.length} tarballs`);
    const path = join(into, made[0]!);
    const files = execFileSync('tar', ['-tzf', path], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((f) => f.replace(/^package\//, ''));
    out[dir] = { dir, path, bytes: statSync(path).size, files };
  }
  return out;
}

export interface Consumer {
  dir: string;
  installMs: number;
  /** npm's own output of the install (warnings included). */
  installLog: string;
  /** Runs a script under plain node, asynchronously: an in-process test server must keep answering meanwhile. */
  run(file: string, args?: string[], env?: Record<string, string>): Promise<Ran>;
  write(file: string, text: string): void;
  /** Every installed package (name@version), from `npm ls --all`. */
  installed(): string[];
  remove(): void;
}

/** A new project in a temp folder with `tarballs` installed, as `npm install <tarball>` does. */
export function consumer(name: string, tarballs: string[], packageJson: Record<string, unknown> = {}): Consumer {
  const dir = mkdtempSync(join(tmpdir(), `latchkey-consumer-${name}-`));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `consumer-${name}`, private: true, type: 'module', ...packageJson }, null, 2));
  const started = performance.now();
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=warn', ...tarballs], { cwd: dir, encoding: 'utf8', timeout: 600_000 });
  const installMs = performance.now() - started;
  if (r.status !== 0) throw new Error(`npm install in ${dir} failed:\n${r.stdout}\n${r.stderr}`);
  return {
    dir,
    installMs,
    installLog: `${r.stdout}${r.stderr}`,
    run(file, args = [], env = {}) {
      return runNode([file, ...args], { cwd: dir, env });
    },
    write(file, text) {
      writeFileSync(join(dir, file), text);
    },
    installed() {
      const ls = spawnSync('npm', ['ls', '--all', '--json'], { cwd: dir, encoding: 'utf8' });
      const names: string[] = [];
      const walk = (deps: Record<string, { version?: string; dependencies?: Record<string, unknown> }> | undefined) => {
        for (const [n, d] of Object.entries(deps ?? {})) {
          // An optional peer that is not installed is listed as {} (no version).
          if (!d.version) continue;
          names.push(`${n}@${d.version}`);
          walk(d.dependencies as typeof deps);
        }
      };
      walk((JSON.parse(ls.stdout) as { dependencies?: Record<string, { version?: string }> }).dependencies);
      return [...new Set(names)].sort();
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Median wall time of `import(specifier)` in a fresh plain-node process, in ms. */
export function coldImportMs(c: Consumer, specifier: string, runs = 5): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const r = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', `const t = performance.now(); await import(${JSON.stringify(specifier)}); process.stdout.write(String(performance.now() - t));`],
      { cwd: c.dir, encoding: 'utf8' },
    );
    if (r.status !== 0) throw new Error(`import ${specifier} failed: ${r.stderr}`);
    times.push(Number(r.stdout));
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

export function tempRoot(): string {
  return mkdtempSync(join(tmpdir(), 'latchkey-packs-'));
}
