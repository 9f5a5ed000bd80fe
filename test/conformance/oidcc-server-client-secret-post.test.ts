// oidcc-server-client-secret-post (OIDCCServerTestClientSecretPost, OP-ClientAuth-SecretPost-Static).
import { describe, expect, it } from 'vitest';
import { codeFlow, useConformance, userinfoGet } from './helpers.js';

describe('oidcc-server-client-secret-post', () => {
  const T = useConformance();

  it('RFC 6749 §2.3.1, OIDC Core §9: the happy code flow with client_secret_post (credentials in the token request body)', async () => {
    const t = T();
    expect(t.discovery.token_endpoint_auth_methods_supported).toContain('client_secret_post');
    const c = await t.client({ token_endpoint_auth_method: 'client_secret_post' });
    const { tokens, idt } = await codeFlow(t, c, { auth: 'client_secret_post' });
    expect(idt.alg).toBe('RS256');
    expect((await userinfoGet(t, tokens.access_token)).status).toBe(200);
  });
});
