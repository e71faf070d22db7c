// Summarises a V8 .cpuprofile (from `node --cpu-prof`): where the server's CPU time went, by
// function (self time), by origin (our src/, each package, node internals, GC, idle), and the
// inclusive time of the functions on Latchkey's request path.
// Standalone: `npx tsx --conditions=latchkey-source bench/profile.ts path/to/file.cpuprofile`.
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  busyMs: number;
  /** Self time per origin, as a share of busy (non-idle) time. */
  byOrigin: Array<{ origin: string; ms: number; share: number }>;
  topSelf: Array<{ fn: string; ms: number; share: number }>;
  /** Inclusive time of named functions, as a share of busy time. */
  inclusive: Array<{ fn: string; ms: number; share: number }>;
  /** Inclusive time per package / src folder: samples with that origin anywhere on the stack. */
  inclusiveByOrigin: Array<{ origin: string; ms: number; share: number }>;
}

function origin(url: string, fn: string): string {
  if (!url) {
    if (fn === '(idle)') return '(idle)';
    if (fn === '(garbage collector)') return '(gc)';
    if (fn === '(program)') return '(program: native, uncategorised)';
    return `(native) ${fn}`.slice(0, 60);
  }
  if (url.startsWith('node:')) return 'node: internals';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 14).split('/');
    return `pkg ${rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  const src = url.indexOf('/src/');
  if (src >= 0) return `src/${url.slice(src + 5).split('/')[0]}`;
  return url.replace(/^file:\/\//, '');
}

function label(f: CallFrame): string {
  const name = f.functionName || '(anonymous)';
  if (!f.url) return name;
  const short = f.url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, '').replace(/^.*\/(src|bench)\//, '$1/');
  return `${name} ${short}:${f.lineNumber + 1}`;
}

/** Functions whose inclusive time tells where a refresh goes (names as they appear in src/). */
export const PATH_FUNCTIONS = [
  'refresh',
  'decodeRefreshToken',
  'rotate',
  'tokenResponse',
  'issueAccessToken',
  'signAccessToken',
  'encodeRefreshToken',
  'authenticate',
  'errorHandler',
  'login',
  'verify',
];

export function summarizeProfile(file: string, focus: string[] = PATH_FUNCTIONS): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  }
  let totalMs = 0;
  let idleMs = 0;
  const originMs = new Map<string, number>();
  const fnMs = new Map<string, number>();
  for (const [id, ms] of self) {
    const n = byId.get(id)!;
    totalMs += ms;
    if (n.callFrame.functionName === '(idle)') idleMs += ms;
    const o = origin(n.callFrame.url, n.callFrame.functionName);
    originMs.set(o, (originMs.get(o) ?? 0) + ms);
    const l = label(n.callFrame);
    fnMs.set(l, (fnMs.get(l) ?? 0) + ms);
  }
  const busyMs = totalMs - idleMs;

  // Inclusive time per focus name: a node counts once even if an ancestor has the same name.
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const incl = new Map<string, number>();
  const inclOrigin = new Map<string, number>();
  const focusSet = new Set(focus);
  for (const [id, ms] of self) {
    const names = new Set<string>();
    const origins = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      if (f.url && !f.url.startsWith('node:')) origins.add(origin(f.url, f.functionName));
      // Only our own code's functions (and node:crypto's verify/sign) by name.
      if (focusSet.has(f.functionName) && (f.url.includes('/src/') || f.url.startsWith('node:'))) names.add(f.functionName);
    }
    for (const name of names) incl.set(name, (incl.get(name) ?? 0) + ms);
    for (const o of origins) inclOrigin.set(o, (inclOrigin.get(o) ?? 0) + ms);
  }

  const share = (ms: number) => (busyMs > 0 ? ms / busyMs : 0);
  const sorted = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]);
  return {
    file,
    totalMs,
    busyMs,
    byOrigin: sorted(originMs)
      .filter(([o]) => o !== '(idle)')
      .slice(0, 14)
      .map(([o, ms]) => ({ origin: o, ms, share: share(ms) })),
    topSelf: sorted(fnMs)
      .filter(([f]) => f !== '(idle)')
      .slice(0, 25)
      .map(([fn, ms]) => ({ fn, ms, share: share(ms) })),
    inclusive: focus.filter((f) => incl.has(f)).map((fn) => ({ fn, ms: incl.get(fn)!, share: share(incl.get(fn)!) })),
    inclusiveByOrigin: sorted(inclOrigin)
      .slice(0, 14)
      .map(([o, ms]) => ({ origin: o, ms, share: share(ms) })),
  };
}

export function formatProfile(s: ProfileSummary): string {
  const pct = (x: number) => `${(x * 100).toFixed(1).padStart(5)}%`;
  const lines = [
    `profile ${s.file}: ${(s.totalMs / 1000).toFixed(1)} s sampled, ${(s.busyMs / 1000).toFixed(1)} s busy (shares below are of busy time)`,
    '  by origin (self time):',
    ...s.byOrigin.map((o) => `    ${pct(o.share)}  ${o.origin}`),
    '  by origin (inclusive: that code anywhere on the stack):',
    ...s.inclusiveByOrigin.map((o) => `    ${pct(o.share)}  ${o.origin}`),
    '  request path (inclusive time):',
    ...s.inclusive.map((o) => `    ${pct(o.share)}  ${o.fn}`),
    '  top functions (self time):',
    ...s.topSelf.map((o) => `    ${pct(o.share)}  ${o.fn}`),
  ];
  return lines.join('\n');
}

if (process.argv[1]?.endsWith('profile.ts')) {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error('usage: npx tsx --conditions=latchkey-source bench/profile.ts FILE.cpuprofile [...]');
    process.exit(2);
  }
  for (const f of files) console.log(formatProfile(summarizeProfile(f)));
}
