export * from './proof.js';
export * from './htu.js';
export * from './challenge.js';
export { ProofReplayCache } from './replay-cache.js';
