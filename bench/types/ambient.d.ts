// Minimal declarations for the two untyped dev-only packages the benchmarks load.

declare module 'autocannon' {
  interface AutocannonRequest {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string;
  }
  interface AutocannonOptions {
    url: string;
    connections?: number;
    pipelining?: number;
    duration?: number;
    amount?: number;
    timeout?: number;
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    requests?: AutocannonRequest[];
  }
  interface Percentiles {
    average: number;
    mean: number;
    stddev: number;
    min: number;
    max: number;
    total: number;
    p50: number;
    p90: number;
    p99: number;
    [k: string]: number;
  }
  export interface AutocannonResult {
    requests: Percentiles;
    latency: Percentiles;
    duration: number;
    errors: number;
    timeouts: number;
    non2xx: number;
    statusCodeStats: Record<string, { count: number }>;
  }
  export interface Instance extends PromiseLike<AutocannonResult> {
    stop(): void;
  }
  function autocannon(opts: AutocannonOptions): Instance;
  export default autocannon;
}

// oidc-provider ships JavaScript only; the bench server uses a handful of its members.
declare module 'oidc-provider' {
  const Provider: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  export default Provider;
}
