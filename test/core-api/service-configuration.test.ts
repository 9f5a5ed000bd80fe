import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoveryDocument } from '../../src/engine/discovery.js';
import { serviceConfiguration } from '../../src/engine/metadata.js';
import { createServiceToken } from '../../src/services/service-tokens.js';
import { DEFAULT_TENANT } from '../../src/store/types.js';
import { makeTestPki, type TestPki } from '../helpers/certs.js';
import { core, testService, type TestService } from '../helpers/core-api.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * RFC 8414 §2 / OIDC Discovery §3: metadata describes the server. The Core API's service/configuration is the very
 * document the tenant serves at {issuer}/.well-known/openid-configuration, so a delegating application that serves
 * it advertises exactly what the server does, on a server whose configuration changes the document.
 */
describe('Core API service/configuration: the tenant\'s own discovery document', () => {
  let pki: TestPki;
  let s: TestServer;
  let acme: TestService;
  let token: string;
  const MTLS = 'https://mtls.example';

  beforeAll(async () => {
    pki = makeTestPki();
    s = await startTestServer({
      registration: 'open',
      requirePushedAuthorizationRequests: true,
      allowRemoteRequestUri: true,
      allowRegistration: true,
      defaultAcr: 'urn:example:acr:custom',
      // Client certificates reach the server from a trusted proxy (RFC 8705), with an mTLS host for the aliases (§5).
      clientCertificateHeader: 'x-client-cert',
      trustedProxies: ['127.0.0.1'],
      tlsClientCa: pki.ca.certFile,
      mtlsBaseUrl: MTLS,
    });
    acme = await testService(s, 'acme'); // served at {issuer}/t/acme
    token = (await createServiceToken(s.lk, { name: 'all services' })).token;
  });
  afterAll(async () => {
    await s.close();
    pki.cleanup();
  });

  const wellKnown = async (issuer: string) => {
    const res = await fetch(`${issuer}/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    return res.text();
  };
  const coreDocument = async (serviceId: string) => {
    const r = await core(s, serviceId, 'service/configuration', {}, token);
    expect(r.json).toMatchObject({ action: 'OK', resultCode: 'LK11010', contentType: 'application/json' });
    return r.json.responseContent as string;
  };

  it('RFC 8414 §2: the default tenant\'s service/configuration is byte for byte its /.well-known/openid-configuration', async () => {
    const served = await wellKnown(s.issuer);
    expect(await coreDocument(DEFAULT_TENANT)).toBe(served);
    // The options that change the document are in it: not the defaults of an unconfigured server.
    const doc = JSON.parse(served) as Record<string, any>;
    expect(doc).toMatchObject({
      issuer: s.issuer,
      require_pushed_authorization_requests: true,
      request_uri_parameter_supported: true,
      require_request_uri_registration: true,
      registration_endpoint: `${s.issuer}/oauth/register`,
      tls_client_certificate_bound_access_tokens: true,
      acr_values_supported: ['urn:example:acr:custom', 'urn:latchkey:acr:mfa'],
      mtls_endpoint_aliases: { token_endpoint: `${MTLS}/oauth/token`, introspection_endpoint: `${MTLS}/oauth/introspect` },
    });
    expect(doc.prompt_values_supported).toContain('create');
    expect(doc.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['tls_client_auth', 'self_signed_tls_client_auth']));
    expect(doc.introspection_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['tls_client_auth', 'self_signed_tls_client_auth']));
    expect(doc).not.toEqual(discoveryDocument(s.issuer, 'openid')); // what the Core API answered before
  });

  it('RFC 8414 §2: a second tenant\'s service/configuration is its own /t/{id}/.well-known/openid-configuration', async () => {
    const served = await wellKnown(`${s.issuer}/t/acme`);
    expect(await coreDocument(acme.id)).toBe(served);
    const doc = JSON.parse(served) as Record<string, any>;
    expect(doc).toMatchObject({
      issuer: `${s.issuer}/t/acme`,
      require_pushed_authorization_requests: true,
      request_uri_parameter_supported: true,
      registration_endpoint: `${s.issuer}/t/acme/oauth/register`,
      tls_client_certificate_bound_access_tokens: true,
      acr_values_supported: ['urn:example:acr:custom', 'urn:latchkey:acr:mfa'],
      mtls_endpoint_aliases: { token_endpoint: `${MTLS}/t/acme/oauth/token` },
    });
    expect(doc.prompt_values_supported).toContain('create');
  });

  it('the engine function answers the same document as the well-known route, for any context', async () => {
    const r = await serviceConfiguration({}, acme.ctx);
    expect(r.responseContent).toBe(await wellKnown(`${s.issuer}/t/acme`));
  });
});
