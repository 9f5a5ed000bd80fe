import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorization } from '../../src/engine/authorization/index.js';
import { token } from '../../src/engine/token/index.js';
import { createLatchkey, registerClient, type LatchkeyInstance } from '../../src/index.js';
import { basic, dropTestDatabase, testDatabaseUrl } from '../helpers/server.js';

const CB = 'https://rp.example/cb';
const PAY = { type: 'payment_initiation', actions: ['initiate'], instructedAmount: { currency: 'EUR', amount: '10.00' } };
const ACCOUNTS = { type: 'account_information', actions: ['read_balances'] };

/** RFC 9396 for a host with its own pages (createLatchkey + interactionUrl): interaction() shows, issue() narrows. */
describe('library: authorization details in interaction() and issue()', () => {
  let dir: string;
  let databaseUrl: string;
  let auth: LatchkeyInstance;
  let rp: { clientId: string; clientSecret: string };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'latchkey-lib-rar-'));
    databaseUrl = await testDatabaseUrl(dir);
    auth = await createLatchkey({
      config: {
        issuer: 'https://host.example/auth', dataDir: dir, databaseUrl, keyEncryptionKey: randomBytes(32).toString('base64url'), logLevel: 'silent',
        authorizationDetailsTypes: ['payment_initiation', 'account_information'],
      },
      findAccount: (sub) => ({ name: sub }),
      interactionUrl: 'https://host.example/login',
      backgroundJobs: false,
    });
    const { json } = await registerClient(await auth.context(), { redirect_uris: [CB], scope: 'payments' });
    rp = { clientId: json.client_id as string, clientSecret: json.client_secret as string };
  });
  afterAll(async () => {
    await auth?.close();
    await dropTestDatabase(databaseUrl);
    rmSync(dir, { recursive: true, force: true });
  });

  it('RFC 9396 §3, §7: interaction() lists the details; issue() grants the approved subset, refusing any other and keeping the ticket', async () => {
    const r = await authorization({ parameters: new URLSearchParams({ response_type: 'code', client_id: rp.clientId, redirect_uri: CB, scope: 'payments', authorization_details: JSON.stringify([PAY, ACCOUNTS]) }).toString() }, await auth.context());
    const d = (await auth.interaction(r.ticket!, 'u-1'))!;
    expect(d.authorizationDetails).toEqual([PAY, ACCOUNTS]);
    expect(d.consentRequired).toBe(true);
    const refused = await auth.issue({ ticket: d.ticket, subject: 'u-1', authorizationDetails: [{ type: 'account_information' }] });
    expect(refused).toMatchObject({ action: 'BAD_REQUEST', resultCode: 'LK7353' });
    const issued = await auth.issue({ ticket: d.ticket, subject: 'u-1', consentGiven: true, authorizationDetails: [PAY] });
    expect(issued.action).toBe('LOCATION');
    const code = new URL(issued.responseContent).searchParams.get('code')!;
    const tok = await token({ parameters: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: CB }).toString(), authorization: basic(rp.clientId, rp.clientSecret) }, await auth.context());
    expect(JSON.parse(tok.responseContent).authorization_details).toEqual([PAY]);
  });
});
