// oidcc-discovery-endpoint-verification (OIDCCDiscoveryEndpointVerification, OP-Discovery-Config) in its dynamic
// variant (client_registration=dynamic_client). The checks shared with the config plan are in
// ../oidcc-discovery-endpoint-verification.test.ts; here are the ones the dynamic variant adds or changes, and the
// new advertised values (pairwise, signed UserInfo) exercised through registered clients.
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../../src/http/app.js';
import { openTestLatchkey } from '../../helpers/server.js';
import { userinfoGet } from '../helpers.js';
import { DYNAMIC_CONFIG, dynamicCodeFlow, expectedSub, useDynamic } from './helpers.js';

const sameSet = (a: string, b: string) => a.split(' ').sort().join(' ') === b.split(' ').sort().join(' ');

describe('oidcc-discovery-endpoint-verification (dynamic)', () => {
  const D = useDynamic();

  it('OIDC Discovery §4: 200 application/json; issuer identical to where it was fetched', async () => {
    const d = D();
    const res = await fetch(`${d.issuer}/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect((await res.json()).issuer).toBe(d.issuer);
  });

  it('OIDC Core §15.2 (OIDCCCheckDiscEndpointResponseTypesSupportedDynamic): code, id_token and "id_token token" are supported', () => {
    const types = D().discovery.response_types_supported as string[];
    for (const needed of ['code', 'id_token', 'id_token token']) expect(types.some((t) => sameSet(t, needed)), needed).toBe(true);
  });

  it('OIDC Discovery §3 (OIDCCCheckDiscEndpointGrantTypesSupportedDynamic): authorization_code and implicit are supported', () => {
    const grants = D().discovery.grant_types_supported as string[];
    expect(grants).toContain('authorization_code');
    expect(grants).toContain('implicit');
  });

  it('OIDC Discovery §3 (CheckDiscEndpointRegistrationEndpoint): registration_endpoint is there, built from the issuer', () => {
    const d = D();
    expect(d.discovery.registration_endpoint).toBe(`${d.issuer}/oauth/register`);
  });

  it('OIDC Discovery §3: subject types public and pairwise; RS256 for ID tokens, UserInfo and request objects; request_uri supported', () => {
    const d = D().discovery;
    expect(d.subject_types_supported).toEqual(['public', 'pairwise']); // CheckDiscEndpointSubjectTypesSupported
    expect(d.id_token_signing_alg_values_supported).toContain('RS256');
    expect(d.id_token_signing_alg_values_supported).not.toContain('none');
    expect(d.userinfo_signing_alg_values_supported).toContain('RS256'); // OIDCCCheckDiscEndpointUserinfoSigningAlgValuesSupported
    expect(d.userinfo_signing_alg_values_supported).not.toContain('none');
    expect(d.request_object_signing_alg_values_supported).toContain('RS256'); // CheckDiscEndpointRequestObjectSigningAlgValuesSupportedIncludesRS256
    expect(d.request_parameter_supported).toBe(true);
    expect(d.request_uri_parameter_supported).toBe(true); // with allowRemoteRequestUri, which the dynamic profile needs
    expect(d.require_request_uri_registration).toBe(true);
    expect(d.claims_parameter_supported).toBe(true);
    expect(d.code_challenge_methods_supported).toEqual(['S256']); // EnsureServerConfigurationCodeChallengeMethodsSupportedIsAnArray
  });

  it('CheckDiscEndpointAllEndpointsAreHttps: with an https issuer the registration endpoint is https too, whatever the Host header', async () => {
    const t = await openTestLatchkey({ ...DYNAMIC_CONFIG, issuer: 'https://op.example' });
    const app = await buildApp(t.lk, { logger: false });
    try {
      const doc = (await app.inject({ url: '/.well-known/openid-configuration', headers: { host: 'evil.example' } })).json();
      expect(doc.registration_endpoint).toBe('https://op.example/oauth/register');
      for (const [k, v] of Object.entries(doc)) if (k.endsWith('_endpoint') || k === 'jwks_uri') expect(String(v), k).toMatch(/^https:\/\/op\.example\//);
    } finally {
      await app.close();
      await t.close();
    }
  });

  describe('the values this plan relies on work ("Discovery lists exactly what works")', () => {
    it('OIDC Core §8: each advertised subject type can be registered; pairwise gives the client a sub of its own', async () => {
      const d = D();
      for (const st of d.discovery.subject_types_supported as string[]) {
        const c = await d.register({ subject_type: st });
        expect(c.registered.subject_type).toBe(st);
        const { idt } = await dynamicCodeFlow(d, c, { sub: await expectedSub(d, c) });
        if (st === 'pairwise') expect(idt.payload.sub).not.toBe(d.sub);
        else expect(idt.payload.sub).toBe(d.sub);
      }
    });

    it('OIDC Core §5.3.2: UserInfo signed with each advertised userinfo_signing_alg_values_supported, verified by kid', async () => {
      const d = D();
      for (const alg of d.discovery.userinfo_signing_alg_values_supported as string[]) {
        const c = await d.register({ userinfo_signed_response_alg: alg });
        const { tokens } = await dynamicCodeFlow(d, c);
        const res = await userinfoGet(d, tokens.access_token);
        expect(res.headers.get('content-type'), alg).toMatch(/^application\/jwt/);
        const jwt = await res.text();
        expect(decodeProtectedHeader(jwt).alg).toBe(alg);
        const { payload } = await jwtVerify(jwt, d.jwks, { issuer: d.issuer, audience: c.clientId });
        expect(payload.sub).toBe(d.sub);
      }
    });
  });
});
