// oidc-provider v9 configured as a user would for the same job as Latchkey's bench client: one confidential
// client, client_credentials with client_secret_basic, a scope it may ask for, opaque access tokens (no resource
// indicator is sent, so no JWT access token), signing keys of the same kinds Latchkey publishes.
// Storage: oidc-provider's built-in development in-memory adapter by default; with OIDC_ADAPTER=sqlite, the small
// SQLite adapter beside this file (see bench/RESULTS.md for what each means for the ratio).
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import Provider from 'oidc-provider';
import { openAdapterDatabase, SqliteAdapter } from './oidc-sqlite-adapter.mjs';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const clientId = process.env.BENCH_CLIENT_ID;
const clientSecret = process.env.BENCH_CLIENT_SECRET;
const scope = process.env.BENCH_SCOPE;

// Same key set as a fresh Latchkey tenant: ES256, RS256, PS256 (RSA-2048) and EdDSA (Ed25519).
const jwk = (alg, type, opts) => ({ ...generateKeyPairSync(type, opts).privateKey.export({ format: 'jwk' }), alg, use: 'sig' });
const keys = [
  jwk('ES256', 'ec', { namedCurve: 'P-256' }),
  jwk('RS256', 'rsa', { modulusLength: 2048 }),
  jwk('PS256', 'rsa', { modulusLength: 2048 }),
  jwk('EdDSA', 'ed25519'),
];

let adapter;
if (process.env.OIDC_ADAPTER === 'sqlite') {
  openAdapterDatabase(join(process.env.BENCH_DATA_DIR, 'oidc-provider.db'));
  adapter = SqliteAdapter;
}

const provider = new Provider(issuer, {
  ...(adapter ? { adapter } : {}),
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope,
    },
  ],
  scopes: [scope],
  jwks: { keys },
  // Same lifetime as Latchkey's default access token.
  ttl: { ClientCredentials: 3600 },
  features: {
    clientCredentials: { enabled: true },
    devInteractions: { enabled: false },
  },
});

const server = provider.listen(port, '127.0.0.1', () => process.stdout.write(`ready ${port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
