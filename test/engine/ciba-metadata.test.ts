import { describe, expect, it } from 'vitest';
import { CIBA_GRANT, clientToJson, validateClientMetadata } from '../../src/engine/client-metadata.js';
import { OAuthError } from '../../src/engine/errors.js';

/** OpenID CIBA Core §4: what a CIBA client registers, and what is refused (engine/client-metadata.ts checkCibaMetadata). */
describe('CIBA client metadata', () => {
  const refused = (m: Record<string, unknown>, words: string, opts: Parameters<typeof validateClientMetadata>[1] = {}) => {
    try {
      validateClientMetadata(m, opts);
    } catch (e) {
      expect(e).toBeInstanceOf(OAuthError);
      expect((e as OAuthError).code).toBe('invalid_client_metadata');
      expect((e as OAuthError).description).toContain(words);
      return;
    }
    throw new Error(`accepted: ${JSON.stringify(m)}`);
  };

  it('poll and ping clients are stored with their mode and endpoint, and returned as registered', () => {
    const poll = validateClientMetadata({ grant_types: [CIBA_GRANT], backchannel_token_delivery_mode: 'poll' });
    expect(poll.metadata).toMatchObject({ grantTypes: [CIBA_GRANT], backchannelTokenDeliveryMode: 'poll' });
    expect(poll.metadata.backchannelClientNotificationEndpoint).toBeUndefined();
    const ping = validateClientMetadata({ grant_types: [CIBA_GRANT], backchannel_token_delivery_mode: 'ping', backchannel_client_notification_endpoint: 'https://rp.example/ciba' });
    expect(ping.metadata).toMatchObject({ backchannelTokenDeliveryMode: 'ping', backchannelClientNotificationEndpoint: 'https://rp.example/ciba' });
    const json = clientToJson({ ...ping.metadata, tenantId: 't', clientId: 'c', secretHash: null, createdAt: 1 } as never);
    expect(json).toMatchObject({ backchannel_token_delivery_mode: 'ping', backchannel_client_notification_endpoint: 'https://rp.example/ciba' });
  });

  it('refuses what CIBA Core §4 forbids or Latchkey does not offer', () => {
    refused({ grant_types: [CIBA_GRANT] }, 'backchannel_token_delivery_mode is required');
    refused({ grant_types: [CIBA_GRANT], backchannel_token_delivery_mode: 'push' }, 'not supported');
    refused({ grant_types: [CIBA_GRANT], backchannel_token_delivery_mode: 'ping' }, 'backchannel_client_notification_endpoint is required');
    refused({ grant_types: [CIBA_GRANT], backchannel_token_delivery_mode: 'ping', backchannel_client_notification_endpoint: 'http://rp.example/ciba' }, 'must use https');
    refused({ grant_types: [CIBA_GRANT], backchannel_token_delivery_mode: 'ping', backchannel_client_notification_endpoint: 'https://rp.example/ciba#x' }, 'fragment');
    refused({ grant_types: [CIBA_GRANT], backchannel_token_delivery_mode: 'poll', backchannel_client_notification_endpoint: 'https://rp.example/ciba' }, 'goes with backchannel_token_delivery_mode ping');
    refused({ grant_types: [CIBA_GRANT], backchannel_token_delivery_mode: 'poll', token_endpoint_auth_method: 'none' }, 'public client');
    refused({ grant_types: [CIBA_GRANT], backchannel_token_delivery_mode: 'poll', backchannel_authentication_request_signing_alg: 'ES256' }, 'signed authentication requests are not supported');
    refused({ grant_types: [CIBA_GRANT], backchannel_token_delivery_mode: 'poll', backchannel_user_code_parameter: true }, 'user codes are not supported');
    refused({ grant_types: ['client_credentials'], backchannel_token_delivery_mode: 'poll' }, `must register the ${CIBA_GRANT} grant`);
  });

  it('is set up by an operator: dynamic registration cannot add the grant', () => {
    refused(
      { grant_types: [CIBA_GRANT], backchannel_token_delivery_mode: 'poll' },
      'CIBA is set up by an operator',
      { dynamic: { allowedScopes: ['openid'] } } as Parameters<typeof validateClientMetadata>[1],
    );
  });
});
