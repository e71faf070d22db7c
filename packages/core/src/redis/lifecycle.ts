// Waiting for and closing an ioredis client (structural types: no ioredis import here), shared by
// the server's stores and @latchkey/verify/redis.

export interface ClosableRedisClient {
  readonly status: string;
  once(event: 'ready', listener: () => void): unknown;
  off(event: 'ready', listener: () => void): unknown;
  quit(): Promise<unknown>;
  disconnect(): void;
}

/** Resolves once the client is ready; rejects with `timeoutError()` after `ms`. */
export function waitReady(client: ClosableRedisClient, ms: number, timeoutError: () => Error): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      client.off('ready', onReady);
      if (err) reject(err);
      else resolve();
    };
    const onReady = () => done();
    const timer = setTimeout(() => done(timeoutError()), ms);
    client.once('ready', onReady);
  });
}

/** QUIT politely (at most 1 s), then drop the connection whatever happened. */
export async function closeClient(client: ClosableRedisClient): Promise<void> {
  if (client.status === 'end') return;
  try {
    if (client.status === 'ready') {
      await Promise.race([client.quit(), new Promise((r) => setTimeout(r, 1000).unref?.())]);
    }
  } catch {
    // already closing
  } finally {
    client.disconnect();
  }
}
