import { OAuthError } from '../errors.js';
import type { Check } from './request.js';

/**
 * OIDC Core §3.1.2.6, §7.2.1: the `registration` parameter is for Self-Issued OPs, which this server is not; a request
 * carrying it is answered registration_not_supported (the error defined for exactly this) rather than served as if the
 * client's metadata had been taken into account.
 */
export const checkRegistrationParameter: Check = (s) => {
  if (s.params.has('registration')) {
    throw new OAuthError('registration_not_supported', 'the registration parameter is not supported (this is not a Self-Issued OpenID Provider)', { resultCode: 'LK7030' });
  }
};
