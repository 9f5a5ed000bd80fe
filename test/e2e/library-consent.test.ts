import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorization } from '../../src/engine/authorization/index.js';
import { createLatchkey, registerClient, type LatchkeyInstance } from '../../src/index.js';
import { dropTestDatabase, testDatabaseUrl } from '../helpers/server.js';

const CB = 'https://rp.example/cb';

/**
 * OIDC Core §3.1.2.4 for a host with its own pages (createLatchkey + interactionUrl): interaction() says whether to
 * ask for consent, by the rule Latchkey's own consent page follows, and issue({ consentGiven: true }) records it.
 */
describe('library: InteractionDetails.consentRequired and issue({ consentGiven })', () => {
  let dir: string;
  let databaseUrl: string;
  let auth: LatchkeyInstance;
  let third: string;
  let own: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'latchkey-lib-consent-'));
    databaseUrl = await testDatabaseUrl(dir);
    auth = await createLatchkey({
      config: { issuer: 'https://host.example/auth', dataDir: dir, databaseUrl, keyEncryptionKey: randomBytes(32).toString('base64url'), logLevel: 'silent' },
      findAccount: (sub) => ({ name: sub }),
      interactionUrl: 'https://host.example/login',
      backgroundJobs: false,
    });
    const ctx = await auth.context();
    third = (await registerClient(ctx, { redirect_uris: [CB], scope: 'openid profile email' })).json.client_id as string;
    own = (await registerClient(ctx, { redirect_uris: [CB], scope: 'openid profile email', skip_consent: true })).json.client_id as string;
  });
  afterAll(async () => {
    await auth?.close();
    await dropTestDatabase(databaseUrl);
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (clientId: string, extra: Record<string, string> = {}) => {
    const r = await authorization({ parameters: new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: CB, scope: 'openid profile', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGjSstw-cM', code_challenge_method: 'S256', ...extra }).toString() }, await auth.context());
    expect(r.action, r.resultMessage).toMatch(/INTERACTION/);
    return r.ticket!;
  };

  it('OIDC Core §3.1.2.4: consentRequired is true until the user consented, then false for the same scopes; prompt=consent asks again', async () => {
    const ticket = await start(third);
    const before = (await auth.interaction(ticket))!;
    expect(before.consentRequired).toBe(true);
    expect((await auth.interaction(ticket, 'u-1'))!.consentRequired).toBe(true);
    const issued = await auth.issue({ ticket, subject: 'u-1', consentGiven: true });
    expect(new URL(issued.responseContent).searchParams.get('code')).toBeTruthy();

    expect((await auth.interaction(await start(third), 'u-1'))!.consentRequired).toBe(false);
    expect((await auth.interaction(await start(third), 'u-2'))!.consentRequired).toBe(true);
    expect((await auth.interaction(await start(third, { scope: 'openid email' }), 'u-1'))!.consentRequired).toBe(true);
    const again = (await auth.interaction(await start(third, { prompt: 'consent' }), 'u-1'))!;
    expect(again.prompt).toEqual(['consent']);
    expect(again.consentRequired).toBe(true);
  });

  it('docs/audit.md: issue({ consentGiven: true }) writes consent.granted as the built-in consent page does (via library)', async () => {
    const consents = async (subject: string) => {
      await auth.latchkey.audit.flush();
      return (await auth.latchkey.store.listAuditEvents('default', { type: 'consent.granted', limit: 100 })).filter((e) => e.subject === subject);
    };
    const issued = await auth.issue({ ticket: await start(third, { scope: 'openid profile email' }), subject: 'u-5', scopes: ['openid', 'profile'], consentGiven: true });
    expect(new URL(issued.responseContent).searchParams.get('code')).toBeTruthy();
    const [e, ...more] = await consents('u-5');
    expect(more).toEqual([]);
    expect(e).toMatchObject({ tenantId: 'default', type: 'consent.granted', clientId: third, subject: 'u-5', ip: null, resultCode: null, detail: { scope: 'openid profile', via: 'library' } });
    // Without consentGiven, nothing was consented to: no event.
    await auth.issue({ ticket: await start(third), subject: 'u-6' });
    expect(await consents('u-6')).toEqual([]);
  });

  it('a client registered with skip_consent needs no consent; issue without consentGiven records none', async () => {
    expect((await auth.interaction(await start(own)))!.consentRequired).toBe(false);
    expect((await auth.interaction(await start(own, { prompt: 'consent' }), 'u-3'))!.consentRequired).toBe(false);
    const ticket = await start(third);
    await auth.issue({ ticket, subject: 'u-3' });
    expect((await auth.interaction(await start(third), 'u-3'))!.consentRequired).toBe(true);
  });
});
