// A real OpenID provider (the npm package oidc-provider) for tests/server/test_ui_sso.py.
//
// Starts two providers on free loopback ports that sign with the same key: "main", which
// Proctor trusts, and "other", whose tokens Proctor must refuse by their issuer alone.
// "other" keeps people's claims out of its ID tokens (only its userinfo endpoint has them),
// as some providers do.
// Prints one JSON line, {"main": ISSUER, "other": ISSUER}, once both listen, and exits
// when its standard input closes (the test ends it so; a test run killed ends it too).
//
// Usage: node provider.mjs REDIRECT_URI
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const [redirectUri] = process.argv.slice(2);
if (!redirectUri) {
  process.stderr.write('usage: node provider.mjs REDIRECT_URI\n');
  process.exit(2);
}

// The people: their claims are what the ID token says of them.
const ACCOUNTS = {
  alice: {
    email: 'alice@example.com', preferred_username: 'alice',
    groups: ['proctor-operators', 'proctor-approvers'], tenant: 'acme',
  },
  bob: { email: 'bob@example.com', preferred_username: 'bob', groups: ['proctor-approvers'], tenant: 'acme' },
  carol: { email: 'carol@example.com', preferred_username: 'carol', groups: ['marketing'], tenant: 'acme' },
  dana: {
    email: 'dana@example.com', preferred_username: 'dana',
    groups: ['proctor-admins'], tenant: ['acme', 'globex'],
  },
};

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key', use: 'sig', alg: 'RS256' };

const client = (clientId) => ({
  client_id: clientId,
  client_secret: `${clientId}-secret`,
  redirect_uris: [redirectUri],
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
});

async function findAccount(ctx, id) {
  const claims = ACCOUNTS[id];
  if (!claims) return undefined;
  return { accountId: id, claims: async () => ({ sub: id, ...claims }) };
}

// First-party clients: the grant is given at sign-in, with no consent page.
async function loadExistingGrant(ctx) {
  const { oidc } = ctx;
  const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
  if (grantId) return oidc.provider.Grant.find(grantId);
  const grant = new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.session.accountId });
  grant.addOIDCScope('openid email profile groups');
  await grant.save();
  return grant;
}

async function start(clients, { claimsInIdToken }) {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients,
    jwks: { keys: [signingKey] },
    findAccount,
    loadExistingGrant,
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['preferred_username', 'name'],
      groups: ['groups', 'tenant'],
    },
    // false: claims in the ID token itself, as Keycloak, Okta and Google put them there.
    conformIdTokenClaims: !claimsInIdToken,
    pkce: { required: () => true },
    cookies: { keys: ['proctor-test-cookies'] },
    features: { devInteractions: { enabled: true } },
  });
  server.on('request', provider.callback());
  return { issuer, server };
}

const main = await start([client('proctor'), client('other-app')], { claimsInIdToken: true });
const other = await start([client('proctor')], { claimsInIdToken: false });
process.stdout.write(`${JSON.stringify({ main: main.issuer, other: other.issuer })}\n`);

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
