// oidcc-server (OIDCCServerTest) in the dynamic plan (OP-Registration-Endpoint, OP-Registration-Dynamic,
// OP-Registration-jwks): a client registered at the registration endpoint, with its keys inline, completes the code
// flow authenticating with private_key_jwt.
import { describe, expect, it } from 'vitest';
import { userinfoGet } from '../helpers.js';
import { dynamicCodeFlow, rpKey, useDynamic } from './helpers.js';

describe('oidcc-server (dynamic)', () => {
  const D = useDynamic();

  it('RFC 7591 §3.2.1: registration answers 201 JSON with the client_id and the metadata as registered', async () => {
    const d = D();
    const key = await rpKey();
    const r = await d.registerRaw(d.registrationRequest(key));
    expect(r.status).toBe(201);
    expect(r.contentType).toMatch(/^application\/json/);
    expect(typeof r.body.client_id).toBe('string');
    expect(r.body.token_endpoint_auth_method).toBe('private_key_jwt');
    expect(r.body.jwks).toEqual({ keys: [key.jwk] });
    expect(r.body.redirect_uris).toEqual(d.registrationRequest(key).redirect_uris);
    expect(r.body.client_secret).toBeUndefined(); // private_key_jwt: no secret is issued
    // RFC 7592 §3: what the suite's cleanup (UnregisterDynamicallyRegisteredClient) needs.
    expect(typeof r.body.registration_access_token).toBe('string');
    expect(r.body.registration_client_uri).toBe(`${d.discovery.registration_endpoint}/${r.body.client_id}`);
  });

  it('OIDC Core §3.1, RFC 7523 §2.2: code flow with private_key_jwt: code, state, iss; a valid RS256 ID token; UserInfo', async () => {
    const d = D();
    const c = await d.register();
    const { a, tokens, idt } = await dynamicCodeFlow(d, c);
    expect(a.callback.searchParams.get('state')).toBe(a.state);
    expect(a.callback.searchParams.get('iss')).toBe(d.issuer);
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(idt.alg).toBe('RS256'); // OIDC Registration §2: the default id_token_signed_response_alg
    const ui = await userinfoGet(d, tokens.access_token);
    expect(ui.status).toBe(200);
    expect((await ui.json()).sub).toBe(d.sub);
  });

  it('RFC 7592 §2.3: the registered client can be deleted with its registration access token (the suite\'s cleanup)', async () => {
    const d = D();
    const c = await d.register();
    const del = await fetch(c.registered.registration_client_uri, { method: 'DELETE', headers: { authorization: `Bearer ${c.registered.registration_access_token}` } });
    expect(del.status).toBe(204);
  });
});
