import { JKT_SHAPE } from '../dpop.js';
import { OAuthError } from '../errors.js';
import type { Check } from './request.js';

/**
 * RFC 9449 §10: dpop_jkt binds the authorization code to a DPoP key; the token request must then carry a proof
 * by that key. Only where a code is issued.
 */
export const checkDpopJkt: Check = (s) => {
  const jkt = s.params.get('dpop_jkt');
  if (jkt === undefined) return;
  if (!JKT_SHAPE.test(jkt)) throw new OAuthError('invalid_request', 'dpop_jkt must be a JWK SHA-256 thumbprint', { resultCode: 'LK13006' });
  if (s.request.responseType !== undefined && !s.request.responseType.split(' ').includes('code')) return;
  s.request.dpopJkt = jkt;
};
