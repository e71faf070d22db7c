// Issue 12 item 1: one account cannot stall the server (see test/helpers/session-flood.ts): PostgreSQL only, 2 instances.
// FLOOD_SESSIONS overrides the 100k; bench/session-flood.ts reports the same figures.
import { it } from 'node:test';
import { check, N } from '../helpers/flood-check.js';
import { runFlood } from '../helpers/session-flood.js';

it(`${N} sessions of one user on PostgreSQL only: listing and ending them never stalls /healthz`, async (t) => {
  check(t, await runFlood('postgres', N));
});
