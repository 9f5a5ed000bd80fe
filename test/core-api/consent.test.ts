import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorization } from '../../src/engine/authorization/index.js';
import { recordConsent } from '../../src/engine/consent.js';
import { core, testService, type TestService } from '../helpers/core-api.js';
import { Agent } from '../helpers/agent.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const CB = 'https://app.example/cb';
const form = (p: Record<string, string>) => new URLSearchParams(p).toString();

/**
 * OIDC Core §3.1.2.4: the authorization server obtains the user's consent unless it has it (or by policy, for a
 * client the operator trusts: skip_consent). A host running its own pages through the Core API is told whether to
 * ask (consentRequired, the rule the built-in consent page follows) and records the consent it obtained
 * (consentGiven on the issue step).
 */
describe('Core API: consentRequired and consentGiven', () => {
  let s: TestServer;
  let svc: TestService;
  let app: { clientId: string };
  let trusted: { clientId: string };
  const now = () => Math.floor(Date.now() / 1000);

  beforeAll(async () => {
    s = await startTestServer();
    svc = await testService(s, 'consent-svc', 'https://login.consent.example');
    app = await svc.client({ redirect_uris: [CB], scope: 'openid profile email' });
    trusted = await svc.client({ redirect_uris: [CB], scope: 'openid profile email', skip_consent: true });
  });
  afterAll(() => s?.close());

  const call = (path: string, body: unknown) => core(s, svc.id, path, body, svc.token);
  const authorize = async (p: Record<string, string>, subject?: string, clientId = app.clientId) => {
    const r = await call('auth/authorization', {
      parameters: form({ response_type: 'code', client_id: clientId, redirect_uri: CB, scope: 'openid profile', nonce: 'n', ...p }),
      ...(subject !== undefined ? { subject } : {}),
    });
    expect(r.status, r.text).toBe(200);
    expect(r.json.action).toMatch(/INTERACTION/);
    return r.json as { action: string; ticket: string; consentRequired: boolean };
  };
  const issue = async (body: Record<string, unknown>) => {
    const r = await call('auth/authorization/issue', { authTime: now(), ...body });
    expect(r.json.action, r.text).toBe('LOCATION');
    expect(new URL(r.json.responseContent).searchParams.get('code')).toBeTruthy();
  };

  it('OIDC Core §3.1.2.4: consent is required for a user who gave none, and without a subject', async () => {
    expect((await authorize({})).consentRequired).toBe(true);
    expect((await authorize({}, 'u-new')).consentRequired).toBe(true);
    expect((await authorize({ prompt: 'none' }, 'u-new'))).toMatchObject({ action: 'NO_INTERACTION', consentRequired: true });
  });

  it('a client registered with skip_consent never requires consent, prompt=consent included', async () => {
    expect((await authorize({}, undefined, trusted.clientId)).consentRequired).toBe(false);
    expect((await authorize({ prompt: 'consent' }, 'u-any', trusted.clientId)).consentRequired).toBe(false);
  });

  it('OIDC Core §3.1.2.4: issue with consentGiven records the consent; the next request for no more than it needs none', async () => {
    await issue({ ticket: (await authorize({ scope: 'openid profile' }, 'u-1')).ticket, subject: 'u-1', consentGiven: true });
    expect((await authorize({ scope: 'openid profile' }, 'u-1')).consentRequired).toBe(false);
    expect((await authorize({ scope: 'openid' }, 'u-1')).consentRequired).toBe(false);
    // Another user's consent is theirs; more scopes than consented to, or prompt=consent (§3.1.2.1), ask again.
    expect((await authorize({ scope: 'openid profile' }, 'u-2')).consentRequired).toBe(true);
    expect((await authorize({ scope: 'openid profile email' }, 'u-1')).consentRequired).toBe(true);
    expect((await authorize({ scope: 'openid profile', prompt: 'consent' }, 'u-1')).consentRequired).toBe(true);
    // A claim asked for by name (OIDC Core §5.5) that the consented scopes do not release is more than was consented to.
    expect((await authorize({ scope: 'openid profile', claims: JSON.stringify({ userinfo: { email: null } }) }, 'u-1')).consentRequired).toBe(true);
  });

  it('consentGiven records only the granted scopes; consents add up', async () => {
    await issue({ ticket: (await authorize({ scope: 'openid profile email' }, 'u-3')).ticket, subject: 'u-3', scopes: ['openid', 'email'], consentGiven: true });
    expect((await authorize({ scope: 'openid email' }, 'u-3')).consentRequired).toBe(false);
    expect((await authorize({ scope: 'openid profile' }, 'u-3')).consentRequired).toBe(true);
    await issue({ ticket: (await authorize({ scope: 'openid profile' }, 'u-3')).ticket, subject: 'u-3', consentGiven: true });
    expect((await authorize({ scope: 'openid profile email' }, 'u-3')).consentRequired).toBe(false);
  });

  it('OIDC Core §3.1.2.4: auth/authorization/consent answers for a user who signed in after the request; the ticket stays usable', async () => {
    await issue({ ticket: (await authorize({ scope: 'openid' }, 'u-6')).ticket, subject: 'u-6', consentGiven: true });
    const { ticket, consentRequired } = await authorize({ scope: 'openid' }); // nobody signed in yet
    expect(consentRequired).toBe(true);
    const known = await call('auth/authorization/consent', { ticket, subject: 'u-6' });
    expect(known.json).toMatchObject({ action: 'OK', resultCode: 'LK7130', status: 200, consentRequired: false });
    const stranger = await call('auth/authorization/consent', { ticket, subject: 'u-7' });
    expect(stranger.json).toMatchObject({ action: 'OK', consentRequired: true });
    await issue({ ticket, subject: 'u-6' });
    const used = await call('auth/authorization/consent', { ticket, subject: 'u-6' });
    expect(used.json).toMatchObject({ action: 'BAD_REQUEST', resultCode: 'LK3006', status: 400 });
    const trustedTicket = (await authorize({}, undefined, trusted.clientId)).ticket;
    expect((await call('auth/authorization/consent', { ticket: trustedTicket, subject: 'u-7' })).json).toMatchObject({ action: 'OK', consentRequired: false });
  });

  it('two consents given at once (two tabs) both count: neither overwrites the other (recordConsent reads and writes in one transaction)', async () => {
    const client = { clientId: app.clientId, createdAt: 0 };
    const ctx = await s.lk.context(svc.id); // the service's tenant
    await Promise.all([recordConsent(ctx, 'u-10', client, ['openid', 'profile']), recordConsent(ctx, 'u-10', client, ['openid', 'email'])]);
    expect((await authorize({ scope: 'openid profile email' }, 'u-10')).consentRequired).toBe(false);
  });

  it('issue without consentGiven records nothing', async () => {
    await issue({ ticket: (await authorize({}, 'u-4')).ticket, subject: 'u-4' });
    expect((await authorize({}, 'u-4')).consentRequired).toBe(true);
  });

  it('an issue step that fails (prompt=login with an older sign-in) records no consent', async () => {
    const ticket = (await authorize({ prompt: 'login' }, 'u-5')).ticket;
    const r = await call('auth/authorization/issue', { ticket, subject: 'u-5', authTime: now() - 3600, consentGiven: true });
    expect(new URL(r.json.responseContent).searchParams.get('error')).toBe('login_required');
    expect((await authorize({}, 'u-5')).consentRequired).toBe(true);
  });

  it('docs/audit.md: issue with consentGiven writes consent.granted as the built-in consent page does (the granted scopes, via core_api)', async () => {
    const consents = async (subject: string) => {
      await s.lk.audit.flush();
      return (await s.lk.store.listAuditEvents(svc.id, { type: 'consent.granted', limit: 100 })).filter((e) => e.subject === subject);
    };
    const ticket = (await authorize({ scope: 'openid profile email', claims: JSON.stringify({ userinfo: { phone_number: null } }) }, 'u-8')).ticket;
    const r = await call('auth/authorization/issue', { ticket, subject: 'u-8', authTime: now(), scopes: ['openid', 'email'], consentGiven: true });
    expect(r.json.action, r.text).toBe('LOCATION');
    const scope = ['openid', 'email', 'claim:phone_number'];
    expect(r.json.consentGranted).toEqual({ clientId: app.clientId, subject: 'u-8', scope });
    const [e, ...more] = await consents('u-8');
    expect(more).toEqual([]);
    expect(e).toMatchObject({ tenantId: svc.id, type: 'consent.granted', clientId: app.clientId, subject: 'u-8', resultCode: null, detail: { scope: scope.join(' '), via: 'core_api' } });
    expect(e!.ip).toMatch(/127\.0\.0\.1|::1/);

    // No consent given, or an issue step that fails: no consent recorded, so none audited.
    await issue({ ticket: (await authorize({}, 'u-9')).ticket, subject: 'u-9' });
    const late = (await authorize({ prompt: 'login' }, 'u-9')).ticket;
    const refused = await call('auth/authorization/issue', { ticket: late, subject: 'u-9', authTime: now() - 3600, consentGiven: true });
    expect(new URL(refused.json.responseContent).searchParams.get('error')).toBe('login_required');
    expect(refused.json.consentGranted).toBeUndefined();
    expect(await consents('u-9')).toEqual([]);
  });

  it('the OpenAPI document describes subject, consentRequired and consentGiven', async () => {
    const doc = JSON.stringify(await (await fetch(s.url('/api/openapi.json'))).json());
    for (const name of ['consentRequired', 'consentGiven', 'auth/authorization/consent']) expect(doc).toContain(`${name}"`);
  });

  it('one rule: a consent given on the built-in consent page counts for the engine\'s consentRequired', async () => {
    await s.user('dora', 'dora-password-1');
    const own = await s.client({ redirect_uris: [CB], scope: 'openid profile' });
    const agent = new Agent(s.issuer);
    const params = { response_type: 'code', client_id: own.clientId, redirect_uri: CB, scope: 'openid profile', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGjSstw-cM', code_challenge_method: 'S256' };
    const done = await agent.authorize(`/oauth/authorize?${form(params)}`, 'dora', 'dora-password-1');
    expect(done.searchParams.get('code')).toBeTruthy();
    const dora = (await s.ctx.store.findUserByUsername(s.ctx.tenant.id, 'dora'))!.id;
    expect((await authorization({ parameters: form(params), subject: dora }, s.ctx)).consentRequired).toBe(false);
    expect((await authorization({ parameters: form({ ...params, prompt: 'consent' }), subject: dora }, s.ctx)).consentRequired).toBe(true);
  });
});
