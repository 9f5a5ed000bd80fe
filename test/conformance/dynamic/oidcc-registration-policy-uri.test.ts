// oidcc-registration-policy-uri (OIDCCRegistrationPolicyUri, OP-Registration-policy_uri): a client registered with policy_uri; in a fresh browser,
// the login page links to the client's privacy policy (the suite asks the tester for a screenshot of that page; the test asserts it).
import { displayMetadataModule } from './display-metadata.js';

displayMetadataModule('oidcc-registration-policy-uri', 'policy_uri', 'https://rp.example/policy.html', {
  what: 'links to the client\'s privacy policy',
  page: /<a href="https:\/\/rp\.example\/policy\.html"[^>]*>Privacy policy<span class="vh"> \(opens in a new tab\)<\/span><\/a>/, // ExpectLoginPageWithPolicyUri
});
