// oidcc-registration-policy-uri (OIDCCRegistrationPolicyUri, OP-Registration-policy_uri): a client registered with policy_uri; in a fresh browser,
// the login page links to the client's privacy policy (the suite asks the tester for a screenshot of that page; the test asserts it).
import { describe, expect, it } from 'vitest';
import { completeAuthorization, redeem, startAuthorization } from '../helpers.js';
import { rpKey, useDynamic } from './helpers.js';

const URI = 'https://rp.example/policy.html';

describe('oidcc-registration-policy-uri', () => {
  const D = useDynamic();

  it('OIDC Registration §2: policy_uri is registered and returned as sent', async () => {
    const c = await D().register({ policy_uri: URI });
    expect(c.registered.policy_uri).toBe(URI);
  });

  it('OIDC Registration §2: the login page links to the client\'s privacy policy, and the flow completes', async () => {
    const d = D();
    const c = await d.register({ policy_uri: URI });
    const config = await d.dynamicRp(c);
    const browser = d.browser(); // "remove any cookies you may have received from the OP"
    const started = await startAuthorization(config, browser);
    const page = started.page;
    expect(page.status).toBe(200);
    expect(page.html).toContain('name="password"'); // a login page
    expect(page.html).toMatch(/<a href="https:\/\/rp\.example\/policy\.html"[^>]*>Privacy policy<\/a>/); // ExpectLoginPageWithPolicyUri
    const callback = await completeAuthorization(browser, page);
    const tokens = await redeem(config, { ...started, callback });
    expect(tokens.id_token).toBeTruthy();
  });

  it('OIDC Registration §2: a policy_uri that is not an http(s) URL is refused with invalid_client_metadata', async () => {
    const d = D();
    const r = await d.registerRaw(d.registrationRequest(await rpKey(), { policy_uri: 'javascript:alert(1)' }));
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('invalid_client_metadata');
  });
});
