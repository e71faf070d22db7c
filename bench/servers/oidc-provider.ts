// oidc-provider 9.x as the peer: refresh grant through its own token endpoint, rotateRefreshToken
// on, EdDSA JWT access tokens (resourceIndicators + accessTokenFormat 'jwt'), the bundled memory
// adapter. Mints CHAINS refresh tokens before listening and prints them on one JSON line.
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT ?? 0);
const chains = Number(process.env.CHAINS ?? 50);
const issuer = `http://127.0.0.1:${port}`;
const resource = 'urn:latchkey-bench:api';
const scope = 'api';
const clientId = 'app';

const { privateKey } = generateKeyPairSync('ed25519');
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-ed25519', alg: 'EdDSA', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/cb'],
      id_token_signed_response_alg: 'EdDSA',
    },
  ],
  jwks: { keys: [jwk] },
  cookies: { keys: ['latchkey-bench-cookie-key'] },
  rotateRefreshToken: true,
  findAccount: async (_ctx: unknown, sub: string) => ({ accountId: sub, claims: async () => ({ sub }) }),
  ttl: { AccessToken: 300, RefreshToken: 30 * 86_400, Grant: 30 * 86_400, Session: 86_400, Interaction: 3600 },
  features: {
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => resource,
      useGrantedResource: async () => true,
      getResourceServerInfo: async () => ({
        scope,
        audience: resource,
        accessTokenTTL: 300,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'EdDSA' } },
      }),
    },
  },
});

const client = await provider.Client.find(clientId);
const tokens: string[] = [];
const authTime = Math.floor(Date.now() / 1000);
for (let i = 0; i < chains; i++) {
  const accountId = `bench-user-${i}`;
  const grant = new provider.Grant({ accountId, clientId });
  grant.addOIDCScope('offline_access');
  grant.addResourceScope(resource, scope);
  const grantId: string = await grant.save();
  const rt = new provider.RefreshToken({
    accountId,
    client,
    grantId,
    gty: 'authorization_code',
    scope: `offline_access ${scope}`,
    authTime,
    resource,
  });
  tokens.push(await rt.save());
}

const server = createServer(provider.callback());
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ ready: true, clientId, tokens })}\n`);
});
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});
