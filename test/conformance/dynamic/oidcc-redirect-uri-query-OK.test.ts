// oidcc-redirect-uri-query-OK (OIDCCRedirectUriQueryOK, OP-redirect_uri-Query-OK): a redirect URI registered with a
// query component, sent identically, works, and the response keeps that query.
import { describe, expect, it } from 'vitest';
import { authorize, CB, validateIdToken } from '../helpers.js';
import { redeemWithRedirectUri, useDynamic } from './helpers.js';

const WITH_QUERY = `${CB}?bar=foo`; // AddQueryToRedirectUri

describe('oidcc-redirect-uri-query-OK', () => {
  const D = useDynamic();

  it('OIDC Core §3.1.2.1, RFC 6749 §3.1.2: a registered redirect_uri with a query is matched exactly and its query kept', async () => {
    const d = D();
    const c = await d.register({ redirect_uris: [WITH_QUERY] });
    expect(c.registered.redirect_uris).toEqual([WITH_QUERY]);
    const a = await authorize(await d.dynamicRp(c), d.browser(), { redirect_uri: WITH_QUERY });
    // RFC 6749 §3.1.2: the query component MUST be retained when adding the response parameters.
    expect(a.callback.searchParams.get('bar')).toBe('foo');
    expect(a.callback.searchParams.get('code')).toBeTruthy();
    expect(a.callback.searchParams.get('state')).toBe(a.state);
    // RFC 6749 §4.1.3: the token request repeats the redirect_uri exactly, query included.
    const tokens = await redeemWithRedirectUri(d, c, a, WITH_QUERY);
    await validateIdToken(d, tokens.id_token!, c.clientId, a.nonce);
  });
});
