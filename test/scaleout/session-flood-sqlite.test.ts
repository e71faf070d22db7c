// Issue 12 item 1: one account cannot stall the server (see test/helpers/session-flood.ts): embedded SQLite, one server.
// FLOOD_SESSIONS overrides the 100k; bench/session-flood.ts reports the same figures.
import { it } from 'node:test';
import { check, N } from '../helpers/flood-check.js';
import { runFlood } from '../helpers/session-flood.js';

it(`${N} sessions of one user on embedded SQLite: listing every page and ending the others never stalls /healthz`, async (t) => {
  check(t, await runFlood('sqlite', N));
});
