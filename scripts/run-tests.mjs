#!/usr/bin/env node
// Runs every test file under test/ with Node's built-in runner (Node 20's --test has no globs),
// on the packages' TypeScript sources (the latchkey-source export condition); servers started as
// child processes run the built JavaScript, as `npm start` does.
// Files run one at a time: several start servers, Redis and PostgreSQL processes, and the
// machine has two cores. Arguments narrow the run to paths containing any of them.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
function find(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'node_modules' || name === 'fixtures' ? [] : find(p);
    return name.endsWith('.test.ts') ? [relative(root, p)] : [];
  });
}
const filters = process.argv.slice(2);
const files = find(join(root, 'test'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--conditions=latchkey-source', '--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=tap', ...files], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
