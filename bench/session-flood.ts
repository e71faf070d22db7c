// One account's session flood (issue 12 item 1) on each store:
// `npx tsx --conditions=latchkey-source bench/session-flood.ts [--sessions=100000] [--stores=sqlite,redis,postgres]`
// (after `npm run build`: the servers are the built dist). Seeds the sessions through the store
// API, then times listing every page (limit 1000) and ending all the others over HTTP, with
// /healthz sampled every ~15 ms meanwhile (p99 against a 2 s baseline taken just before, in the
// same run) and another user's refreshes on the other instance counted. Writes
// bench/results/session-flood.json.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runFlood, type FloodStore } from '../test/helpers/session-flood.js';

const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const n = Number(arg('sessions') ?? 100_000);
const stores = (arg('stores') ?? 'sqlite,redis,postgres').split(',') as FloodStore[];
const results = [];
for (const store of stores) {
  const f = await runFlood(store, n);
  const row = {
    store: f.store,
    sessions: f.sessions,
    listAllPagesMs: Math.round(f.listMs),
    pages: f.pages,
    endOthersMs: Math.round(f.endOthersMs),
    healthP99Ms: +f.healthP99Ms.toFixed(1),
    healthBaselineP99Ms: +f.healthBaselineP99Ms.toFixed(1),
    healthP99VsBaseline: +(f.healthP99Ms / f.healthBaselineP99Ms).toFixed(2),
    healthMaxMs: +f.healthMaxMs.toFixed(1),
    otherUserRefreshes: f.otherRefreshes,
    otherUserFailures: f.otherFailures,
    ...(f.slowScripts ? { slowlogOver10ms: f.slowScripts } : {}),
  };
  console.log(JSON.stringify(row));
  results.push(row);
}
writeFileSync(join(import.meta.dirname, 'results', 'session-flood.json'), `${JSON.stringify({ at: new Date().toISOString(), results }, null, 2)}\n`);
