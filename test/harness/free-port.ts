import net from 'node:net';

function listenOnEphemeral(): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => resolve(server));
  });
}

function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function portOf(server: net.Server): number {
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('listener has no TCP address');
  return addr.port;
}

/**
 * A port that was free a moment ago on 127.0.0.1. Inherently racy (someone
 * may grab it before the caller binds), so callers that spawn servers should
 * retry with a fresh port when the bind fails.
 */
export async function freePort(): Promise<number> {
  const server = await listenOnEphemeral();
  const port = portOf(server);
  await close(server);
  return port;
}

/**
 * `count` distinct free ports. All listeners are held open until every port
 * is chosen; calling freePort() repeatedly could hand out the same port twice
 * because the kernel may reuse a just-released ephemeral port.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < count; i++) servers.push(await listenOnEphemeral());
    return servers.map(portOf);
  } finally {
    await Promise.all(servers.map(close));
  }
}
