// A real OpenID Provider for tollgate-core's `remote_oidc_provider` test and the DPoP interop
// test of `tollgate serve` (crates/tollgate-cli/tests/dpop_interop.rs): panva's certified
// oidc-provider (pinned in package.json / package-lock.json), not code of ours.
//
//   node provider.mjs [port]        (or TOLLGATE_OP_PORT=<port>; default 0: any free port)
//
// Listens on 127.0.0.1, issuer `http://127.0.0.1:<port>`, and prints `LISTENING <port>` on stdout
// once it accepts requests. The signing keys (RS256 and ES256) are generated at start-up, so a
// restart on the same port is a key rotation.
//
// One client, `tollgate-test` / `tollgate-test-secret` (client_secret_basic), may use the
// client_credentials grant. Access tokens are RFC 9068 JWTs (`typ: at+jwt`) for the resource
// `urn:tollgate:api`, signed with ES256; the resource `urn:tollgate:api:rs256` gets the same
// audience, signed with RS256.
//
// DPoP (RFC 9449) is on: a token request carrying a `DPoP` proof (ES256, EdDSA/Ed25519, RS256 or
// PS256; no server nonce) gets a DPoP-bound access token (`token_type: DPoP`, `cnf.jkt` = the
// proof key's thumbprint); one without gets a Bearer token as before.

import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const CLIENT_ID = 'tollgate-test';
const CLIENT_SECRET = 'tollgate-test-secret';
const AUDIENCE = 'urn:tollgate:api';
const RS256_RESOURCE = 'urn:tollgate:api:rs256';

const requested = process.argv[2] ?? process.env.TOLLGATE_OP_PORT ?? '0';
const port = Number.parseInt(requested, 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`provider.mjs: invalid port ${JSON.stringify(requested)}`);
  process.exit(2);
}

/** A fresh private signing JWK; the `kid` is random, so every start publishes new kids. */
function signingKey(alg) {
  const { privateKey } = alg === 'RS256'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...privateKey.export({ format: 'jwk' }), kid: `${alg}-${randomUUID()}`, use: 'sig', alg };
}

// Bind first (port 0 picks a free one), then build the provider for the issuer that names it.
const server = createServer();
server.on('error', (err) => {
  console.error(`provider.mjs: ${err.message}`);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => {
  const actual = server.address().port;
  const issuer = `http://127.0.0.1:${actual}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: { keys: [signingKey('ES256'), signingKey('RS256')] },
    // The proof algorithms of `tollgate serve` (the default list lacks the RSA ones).
    enabledJWA: { dPoPSigningAlgValues: ['ES256', 'Ed25519', 'EdDSA', 'RS256', 'PS256'] },
    features: {
      // No end-user interactions here: only the token endpoint and the metadata are used.
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      dPoP: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => AUDIENCE,
        getResourceServerInfo: (_ctx, resource) => ({
          scope: 'read write',
          audience: AUDIENCE,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: resource === RS256_RESOURCE ? 'RS256' : 'ES256' } },
        }),
        useGrantedResource: () => true,
      },
    },
  });
  provider.on('server_error', (_ctx, err) => console.error('provider.mjs: server_error', err));
  server.on('request', provider.callback());
  process.stdout.write(`LISTENING ${actual}\n`);
});

// The test kills the process; exit promptly on the usual signals too.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => process.exit(0));
}
