// oidcc-registration-tos-uri (OIDCCRegistrationTosUri, OP-Registration-tos_uri): a client registered with tos_uri; in a fresh browser,
// the login page links to the client's terms of service (the suite asks the tester for a screenshot of that page; the test asserts it).
import { displayMetadataModule } from './display-metadata.js';

displayMetadataModule('oidcc-registration-tos-uri', 'tos_uri', 'https://rp.example/tos.html', {
  what: 'links to the client\'s terms of service',
  page: /<a href="https:\/\/rp\.example\/tos\.html"[^>]*>Terms of service<span class="vh"> \(opens in a new tab\)<\/span><\/a>/, // ExpectLoginPageWithTosUri
});
