import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backchannelAuthentication, cibaComplete, createLatchkey, pendingCibaRequests, registerClient, token, userinfo, type LatchkeyInstance } from '../../src/index.js';
import { dropTestDatabase, testDatabaseUrl } from '../helpers/server.js';

const CIBA = 'urn:openid:params:grant-type:ciba';

/**
 * CIBA in library mode: the host keeps its accounts (findAccount), so login_hint is the host's sub; the host's own
 * authentication-device UI lists the requests waiting for a user (pendingCibaRequests) and records the decision
 * (cibaComplete with the request's id and that user), all through the engine functions of the public API.
 */
describe('library: CIBA with the host\'s accounts', () => {
  let dir: string;
  let databaseUrl: string;
  let auth: LatchkeyInstance;
  let client: { id: string; secret: string };
  const accounts: Record<string, { name: string } | null> = { 'u-1': { name: 'Una' }, 'u-2': { name: 'Dos' } };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'latchkey-lib-ciba-'));
    databaseUrl = await testDatabaseUrl(dir);
    auth = await createLatchkey({
      config: { issuer: 'https://host.example/auth', dataDir: dir, databaseUrl, keyEncryptionKey: randomBytes(32).toString('base64url'), logLevel: 'silent' },
      findAccount: (sub) => accounts[sub] ?? null,
      backgroundJobs: false,
    });
    const r = await registerClient(await auth.context(), { grant_types: [CIBA], backchannel_token_delivery_mode: 'poll', scope: 'openid profile' });
    client = { id: r.json.client_id as string, secret: r.json.client_secret as string };
  });
  afterAll(async () => {
    await auth?.close();
    await dropTestDatabase(databaseUrl);
    rmSync(dir, { recursive: true, force: true });
  });

  const ask = async (params: Record<string, string>) =>
    backchannelAuthentication({ parameters: new URLSearchParams(params).toString(), contentType: 'application/x-www-form-urlencoded', clientId: client.id, clientSecret: client.secret }, await auth.context());
  const redeem = async (authReqId: string) =>
    token({ parameters: new URLSearchParams({ grant_type: CIBA, auth_req_id: authReqId }).toString(), contentType: 'application/x-www-form-urlencoded', clientId: client.id, clientSecret: client.secret }, await auth.context());

  it('login_hint names the host\'s account by sub; the host lists and decides the request for that user; UserInfo answers with the host\'s claims', async () => {
    const started = await ask({ scope: 'openid profile', login_hint: 'u-1', binding_message: 'A1' });
    expect(started.action, started.responseContent).toBe('OK');
    const { auth_req_id } = JSON.parse(started.responseContent) as { auth_req_id: string };
    const ctx = await auth.context();
    const waiting = await pendingCibaRequests(ctx, 'u-1');
    expect(waiting).toHaveLength(1);
    expect(waiting[0]).toMatchObject({ bindingMessage: 'A1', scopes: ['openid', 'profile'], client: { clientId: client.id } });
    expect(await pendingCibaRequests(ctx, 'u-2')).toEqual([]);
    // Another user cannot decide it.
    expect((await cibaComplete({ requestId: waiting[0]!.id, subject: 'u-2', result: 'AUTHORIZED' }, ctx)).action).toBe('NOT_EXIST');
    // Without a subject the page's handle decides nothing.
    expect((await cibaComplete({ requestId: waiting[0]!.id, result: 'AUTHORIZED' }, ctx)).action).toBe('NOT_EXIST');
    expect(JSON.parse((await redeem(auth_req_id)).responseContent).error).toBe('authorization_pending');
    const done = await cibaComplete({ requestId: waiting[0]!.id, subject: 'u-1', result: 'AUTHORIZED', amr: ['face'] }, ctx);
    expect(done.action, done.responseContent).toBe('SUCCESS');
    const tokens = await redeem(auth_req_id);
    expect(tokens.action, tokens.responseContent).toBe('OK');
    const body = JSON.parse(tokens.responseContent) as { id_token: string; access_token: string };
    expect(decodeJwt(body.id_token)).toMatchObject({ sub: 'u-1', amr: ['face'] });
    const info = await userinfo({ authorization: `Bearer ${body.access_token}`, method: 'GET' }, ctx);
    expect(JSON.parse(info.responseContent)).toEqual({ sub: 'u-1', name: 'Una' });
  });

  it('a hint that is no account of the host is unknown_user_id; an account gone before redemption gets no tokens', async () => {
    const unknown = await ask({ scope: 'openid', login_hint: 'u-404' });
    expect(unknown.action).toBe('BAD_REQUEST');
    expect(JSON.parse(unknown.responseContent).error).toBe('unknown_user_id');
    const started = await ask({ scope: 'openid', login_hint: 'u-2' });
    const { auth_req_id } = JSON.parse(started.responseContent) as { auth_req_id: string };
    const ctx = await auth.context();
    const [req] = await pendingCibaRequests(ctx, 'u-2');
    expect((await cibaComplete({ requestId: req!.id, subject: 'u-2', result: 'AUTHORIZED' }, ctx)).action).toBe('SUCCESS');
    accounts['u-2'] = null; // deleted by the host meanwhile
    const refused = await redeem(auth_req_id);
    expect(refused.action).toBe('BAD_REQUEST');
    expect(JSON.parse(refused.responseContent).error).toBe('invalid_grant');
  });
});
