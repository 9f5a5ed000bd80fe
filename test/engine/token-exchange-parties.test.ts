// Token exchange (RFC 8693) at the engine, with an injected clock: the parties' liveness with an embedding
// application's accounts, the ID-token check itself (OIDC Core §2), and the refresh-token reuse rule's interval.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccountSource } from '../../src/engine/accounts.js';
import { authorization, authorizationIssue } from '../../src/engine/authorization/index.js';
import type { EngineContext } from '../../src/engine/context.js';
import { token } from '../../src/engine/token/index.js';
import { registerResourceServer } from '../../src/services/resources.js';
import { mintIdToken } from '../../src/tokens/id-token.js';
import { signJwt } from '../../src/tokens/jwt.js';
import { verifyOwnIdToken } from '../../src/tokens/verify-own.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
const RT = 'urn:ietf:params:oauth:token-type:refresh_token';
const IDT = 'urn:ietf:params:oauth:token-type:id_token';
const API = 'https://api.example/';
const CB = 'https://host-app.example/cb';

describe('token exchange: parties (engine)', () => {
  let t: TestLatchkey;
  let now = Date.UTC(2033, 0, 1);
  const accounts: Record<string, Record<string, unknown>> = { 'h-1': { name: 'One' }, 'h-2': { name: 'Two' } };
  const host: AccountSource = { findAccount: async (sub) => accounts[sub] ?? null };
  let hostCtx: EngineContext;
  let app: { clientId: string; clientSecret?: string };

  beforeAll(async () => {
    t = await openTestLatchkey({}, { clock: () => now });
    hostCtx = { ...t.ctx, accounts: host };
    await registerResourceServer(t.ctx, { identifier: API, scope: 'api' });
    app = await t.client({
      grant_types: ['authorization_code', 'refresh_token', GRANT], redirect_uris: [CB], scope: 'openid offline_access api', skip_consent: true,
      refresh_token_reuse_interval: 10,
      token_exchange: { subject_token_types: [AT, RT, IDT], impersonation: true },
    });
  });
  afterAll(() => t.close());

  const call = (ctx: EngineContext, params: Record<string, string>) =>
    token({ parameters: new URLSearchParams(params).toString(), clientId: app.clientId, clientSecret: app.clientSecret }, ctx);
  const body = (r: { responseContent: string }) => JSON.parse(r.responseContent) as Record<string, string>;

  /** The host signs `subject` in (its own session id) and the app redeems the code: tokens with the host's sid. */
  async function hostSignIn(subject: string, sid: string) {
    const verifier = 'w'.repeat(50);
    const p = new URLSearchParams({
      response_type: 'code', client_id: app.clientId, redirect_uri: CB, scope: 'openid offline_access api', nonce: 'n',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
    });
    const a = await authorization({ parameters: p.toString() }, hostCtx);
    expect(a.ticket, a.resultMessage).toBeTruthy();
    const issued = await authorizationIssue({ ticket: a.ticket!, subject, authTime: now / 1000, sid }, hostCtx);
    const code = new URL(issued.responseContent as string).searchParams.get('code')!;
    const r = await call(hostCtx, { grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier });
    expect(r.action, r.resultMessage).toBe('OK');
    return body(r);
  }

  it('RFC 8693 §2.1, accounts.ts: an account the embedding application no longer finds gets nothing from its tokens (refresh, access or ID token)', async () => {
    const tokens = await hostSignIn('h-2', 'host-session-2');
    const parties = [[tokens.refresh_token!, RT], [tokens.access_token!, AT], [tokens.id_token!, IDT]] as const;
    for (const [subject, type] of parties) {
      const r = await call(hostCtx, { grant_type: GRANT, subject_token: subject, subject_token_type: type, resource: API });
      expect(r.action, `${type}: ${r.resultMessage}`).toBe('OK');
    }
    delete accounts['h-2']; // deleted or disabled by the host: findAccount answers null
    for (const [subject, type] of parties) {
      const r = await call(hostCtx, { grant_type: GRANT, subject_token: subject, subject_token_type: type, resource: API });
      expect(r.action, type).toBe('BAD_REQUEST');
      expect(body(r).error, type).toBe('invalid_request');
      expect(r.resultCode, type).toBe('LK6021');
    }
  });

  it('OIDC Core §2: an ID token of ours needs exp and iat; a JWT of ours without them (a signed UserInfo response) is none, for exchange or id_token_hint', async () => {
    const client = (await t.ctx.store.findClient(t.ctx.tenant.id, app.clientId))!;
    const real = await mintIdToken(t.ctx, { client, subject: 'h-1', sid: 's' });
    expect(await verifyOwnIdToken(t.ctx, real, { allowExpired: false, audience: app.clientId })).toMatchObject({ sub: 'h-1' });
    const key = (await t.ctx.keys()).signingKey('RS256');
    const base = { iss: t.ctx.tenant.issuer, sub: 'h-1', aud: app.clientId };
    const nowS = now / 1000;
    for (const [name, payload] of Object.entries({ 'no exp': { ...base, iat: nowS }, 'no iat': { ...base, exp: nowS + 60 }, 'exp not a number': { ...base, iat: nowS, exp: String(nowS + 60) } })) {
      const jwt = signJwt(key, payload);
      // id_token_hint accepts expired ID tokens (allowExpired), never ones without exp.
      expect(await verifyOwnIdToken(t.ctx, jwt, { allowExpired: true }), name).toBeUndefined();
      expect(await verifyOwnIdToken(t.ctx, jwt, { allowExpired: false, audience: app.clientId }), name).toBeUndefined();
    }
  });

  it('RFC 9700 §4.14.2: a rotated refresh token presented to token exchange is refused; within the reuse interval the family is kept, after it revoked', async () => {
    const tokens = await hostSignIn('h-1', 'host-session-1');
    const rotated = await call(hostCtx, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! });
    expect(rotated.action).toBe('OK');
    const successor = body(rotated).refresh_token!;
    const present = () => call(hostCtx, { grant_type: GRANT, subject_token: tokens.refresh_token!, subject_token_type: RT, resource: API });
    // Within the client's reuse interval (10 s): refused, but the grace a racing refresh has is not punished.
    const early = await present();
    expect(early.action).toBe('BAD_REQUEST');
    expect(early.resultCode).toBe('LK6021');
    expect((await call(hostCtx, { grant_type: GRANT, subject_token: successor, subject_token_type: RT, resource: API })).action).toBe('OK');
    // After it: the whole family goes, successor included.
    now += 11_000;
    const late = await present();
    expect(body(late).error).toBe('invalid_request');
    expect(late.resultCode).toBe('LK7070');
    const next = await call(hostCtx, { grant_type: 'refresh_token', refresh_token: successor });
    expect(body(next).error).toBe('invalid_grant');
  });
});
