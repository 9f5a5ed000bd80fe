// The three display-metadata modules of the dynamic plan (oidcc-registration-logo-uri, -policy-uri, -tos-uri) check
// the same three things for one field each: the value is registered as sent, the login page of a fresh browser
// shows it (the suite asks the tester for a screenshot; the test asserts the page), and a non-http(s) value is
// refused. Each module's file calls this with its field.
import { describe, expect, it } from 'vitest';
import { completeAuthorization, redeem, startAuthorization } from '../helpers.js';
import { rpKey, useDynamic } from './helpers.js';

export function displayMetadataModule(
  module: string,
  field: 'logo_uri' | 'policy_uri' | 'tos_uri',
  uri: string,
  shown: { what: string; page: RegExp },
): void {
  describe(module, () => {
    const D = useDynamic();

    it(`OIDC Registration §2: ${field} is registered and returned as sent`, async () => {
      const c = await D().register({ [field]: uri });
      expect(c.registered[field]).toBe(uri);
    });

    it(`OIDC Registration §2: the login page ${shown.what}, and the flow completes`, async () => {
      const d = D();
      const c = await d.register({ [field]: uri });
      const config = await d.dynamicRp(c);
      const browser = d.browser(); // "remove any cookies you may have received from the OP"
      const started = await startAuthorization(config, browser);
      const page = started.page;
      expect(page.status).toBe(200);
      expect(page.html).toContain('name="password"'); // a login page
      expect(page.html).toMatch(shown.page);
      const callback = await completeAuthorization(browser, page);
      const tokens = await redeem(config, { ...started, callback });
      expect(tokens.id_token).toBeTruthy();
    });

    it(`OIDC Registration §2: a ${field} that is not an http(s) URL is refused with invalid_client_metadata`, async () => {
      const d = D();
      const r = await d.registerRaw(d.registrationRequest(await rpKey(), { [field]: 'javascript:alert(1)' }));
      expect(r.status).toBe(400);
      expect(r.body.error).toBe('invalid_client_metadata');
    });
  });
}
