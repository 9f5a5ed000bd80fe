import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliFolder } from '../helpers/cli-folder.js';
import { dropTestDatabase, testDatabaseUrl } from '../helpers/database.js';
import { startTestServer } from '../helpers/server.js';

/**
 * registrationMaxClients counts only the clients that registered themselves through open registration: clients an
 * operator creates with the CLI take no slot, and an operator deleting an openly registered one frees its slot.
 * The CLI (dist/) and an HTTP server share one database (SQLite file, or PostgreSQL on that pass).
 */
describe('latchkey CLI and registrationMaxClients', () => {
  const folder = cliFolder('latchkey-cli-regmax-');
  const keyEncryptionKey = randomBytes(32).toString('base64url');
  let databaseUrl: string;
  const cli = (args: string[]) => folder.cli(args, undefined, { LATCHKEY_DATABASE_URL: databaseUrl, LATCHKEY_KEY_ENCRYPTION_KEY: keyEncryptionKey });
  beforeAll(async () => {
    databaseUrl = await testDatabaseUrl(folder.dir);
  });
  afterAll(() => dropTestDatabase(databaseUrl));

  it('clients created with `latchkey client create` are not counted; `latchkey client delete` of an openly registered client frees its slot', async () => {
    expect(cli(['init', '--json']).code).toBe(0);
    for (const id of ['ops-1', 'ops-2', 'ops-3']) {
      const made = cli(['client', 'create', '--client-id', id, '--json']);
      expect(made.code, made.err).toBe(0);
    }
    const s = await startTestServer({ databaseUrl, keyEncryptionKey, registration: 'open', registrationMaxClients: 2 });
    try {
      const register = () =>
        fetch(s.url('/oauth/register'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_types: ['client_credentials'] }) });
      const first = await register();
      expect(first.status).toBe(201);
      const { client_id } = (await first.json()) as { client_id: string };
      expect((await register()).status).toBe(201);
      const refused = await register();
      expect(refused.status).toBe(403);
      expect(await refused.json()).toMatchObject({ error: 'access_denied' });
      // Another operator client while the quota is full: the CLI is not bound by it.
      expect(cli(['client', 'create', '--client-id', 'ops-4', '--json']).code).toBe(0);
      const deleted = cli(['client', 'delete', client_id]);
      expect(deleted.code, deleted.err).toBe(0);
      expect((await register()).status).toBe(201);
      expect((await register()).status).toBe(403);
    } finally {
      await s.close();
    }
  });
});
