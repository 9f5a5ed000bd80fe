// oidcc-registration-logo-uri (OIDCCRegistrationLogoUri, OP-Registration-logo_uri): a client registered with logo_uri; in a fresh browser,
// the login page shows the client's logo (the suite asks the tester for a screenshot of that page; the test asserts it).
import { displayMetadataModule } from './display-metadata.js';

displayMetadataModule('oidcc-registration-logo-uri', 'logo_uri', 'https://rp.example/logo.png', {
  what: 'shows the client\'s logo',
  page: /<img class="logo" src="https:\/\/rp\.example\/logo\.png"/, // ExpectLoginPageWithLogo
});
