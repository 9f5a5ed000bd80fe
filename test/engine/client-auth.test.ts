import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticateClient, parseBasicAuth } from '../../src/engine/client-auth.js';
import { OAuthError } from '../../src/engine/errors.js';
import { Params } from '../../src/engine/params.js';
import { openTestLatchkey, type TestLatchkey } from '../helpers/server.js';

describe('parseBasicAuth', () => {
  it('RFC 6749 §2.3.1: id and secret are form-urldecoded after base64', () => {
    const h = 'Basic ' + Buffer.from('my%3Aclient:s%2Bcr+t%25').toString('base64');
    expect(parseBasicAuth(h)).toEqual({ clientId: 'my:client', clientSecret: 's+cr t%' });
  });
  it('ignores other schemes', () => {
    expect(parseBasicAuth('Bearer abc')).toBeUndefined();
  });
  // RFC 6749 §5.2: a Basic header the server cannot read is a failed authentication with the header.
  const malformed = (header: string) => {
    try {
      parseBasicAuth(header);
    } catch (e) {
      return e as OAuthError;
    }
    throw new Error(`accepted ${header}`);
  };
  it('RFC 6749 §5.2: a Basic header without a colon is 401 invalid_client with a Basic challenge', () => {
    const e = malformed('Basic ' + Buffer.from('nocolon').toString('base64'));
    expect(e).toMatchObject({ code: 'invalid_client', status: 401, resultCode: 'LK1005' });
    expect(e.wwwAuthenticate).toMatch(/^Basic realm=/);
  });
  it('RFC 6749 §5.2: bad percent-encoding inside Basic is 401 invalid_client, not a crash', () => {
    expect(malformed('Basic ' + Buffer.from('a%zz:b').toString('base64'))).toMatchObject({ code: 'invalid_client', status: 401, resultCode: 'LK1005' });
  });
  it('RFC 6749 §5.2 / RFC 7617 §2: Basic with no credentials, or credentials that are not base64, is 401 invalid_client', () => {
    for (const h of ['Basic', 'basic ', 'Basic !!!', 'Basic %%%', 'Basic aWQ6c2VjcmV0c', 'Basic aWQ6c2VjcmV0cw== aWQ6c2VjcmV0cw==', 'Basic w7_Dvjo_Pg==']) {
      const e = malformed(h);
      expect(e, h).toMatchObject({ code: 'invalid_client', status: 401, resultCode: 'LK1005' });
      expect(e.wwwAuthenticate, h).toMatch(/^Basic realm=/);
    }
  });
  it('the scheme is case-insensitive and may be followed by several spaces (RFC 7235 §2.1)', () => {
    expect(parseBasicAuth('bAsIc   ' + Buffer.from('id:secret').toString('base64') + ' ')).toEqual({ clientId: 'id', clientSecret: 'secret' });
    expect(parseBasicAuth('Basicfoo')).toBeUndefined(); // another scheme
    // Unpadded standard base64 is read as the padded form would be.
    expect(parseBasicAuth('Basic aWQ6c2VjcmV0cw')).toEqual({ clientId: 'id', clientSecret: 'secrets' });
  });
});

describe('authenticateClient', () => {
  let t: TestLatchkey;
  let basicClient: { clientId: string; clientSecret?: string };
  let postClient: { clientId: string; clientSecret?: string };
  let publicClient: { clientId: string };
  const deps = () => ({ store: t.ctx.store, hasher: t.ctx.hasher, tenantId: t.ctx.tenant.id });

  beforeAll(async () => {
    t = await openTestLatchkey();
    basicClient = await t.client({ grant_types: ['client_credentials'] });
    postClient = await t.client({ grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_post' });
    publicClient = await t.client({ redirect_uris: ['https://app.example/cb'], token_endpoint_auth_method: 'none' });
  });
  afterAll(() => t.close());

  const fail = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (e) {
      return e as OAuthError;
    }
    throw new Error('expected failure');
  };

  it('accepts the registered method with the right secret', async () => {
    const a = await authenticateClient(deps(), { clientId: basicClient.clientId, clientSecret: basicClient.clientSecret }, Params.parse(''));
    expect(a.client.clientId).toBe(basicClient.clientId);
    expect(a.method).toBe('client_secret_basic');
    const b = await authenticateClient(deps(), undefined, Params.fromRecord({ client_id: postClient.clientId, client_secret: postClient.clientSecret }));
    expect(b.method).toBe('client_secret_post');
    const c = await authenticateClient(deps(), undefined, Params.fromRecord({ client_id: publicClient.clientId }));
    expect(c.method).toBe('none');
  });

  it('a wrong secret is invalid_client with 401 and WWW-Authenticate: Basic', async () => {
    const e = await fail(authenticateClient(deps(), { clientId: basicClient.clientId, clientSecret: 'wrong' }, Params.parse('')));
    expect(e.code).toBe('invalid_client');
    expect(e.status).toBe(401);
    expect(e.wwwAuthenticate).toMatch(/^Basic /);
  });

  it('a method other than the registered one is invalid_client', async () => {
    const e = await fail(authenticateClient(deps(), undefined, Params.fromRecord({ client_id: basicClient.clientId, client_secret: basicClient.clientSecret })));
    expect(e.code).toBe('invalid_client');
    expect(e.resultCode).toBe('LK1003');
    const f = await fail(authenticateClient(deps(), undefined, Params.fromRecord({ client_id: basicClient.clientId })));
    expect(f.code).toBe('invalid_client');
  });

  it('RFC 6749 §2.3: Basic and client_secret in the body at once is invalid_request', async () => {
    const e = await fail(
      authenticateClient(deps(), { clientId: basicClient.clientId, clientSecret: basicClient.clientSecret }, Params.fromRecord({ client_secret: 'x' })),
    );
    expect(e.code).toBe('invalid_request');
  });

  it('an unknown client is invalid_client, without saying so to the client', async () => {
    const e = await fail(authenticateClient(deps(), { clientId: 'nobody', clientSecret: 'x' }, Params.parse('')));
    expect(e.code).toBe('invalid_client');
    expect(e.description).toBe('client authentication failed');
  });
});
