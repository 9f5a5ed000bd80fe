import type { ClientMetadata, ClientRecord } from '../store/types.js';
import { OAuthError } from './errors.js';
import { isLoopbackHost } from './hosts.js';

/**
 * Policies for clients that registered themselves through open registration (RFC 7591 §3 without an initial access
 * token), decided here and applied by registration.ts: how many such clients a tenant holds (registrationMaxClients)
 * and on which hosts their URIs may lie (registrationTrustedHosts). Keycloak calls these its anonymous client
 * registration policies (Max Clients, Trusted Hosts). Clients an operator made (CLI, admin API) and clients registered
 * with an initial access token are not subject to them: someone the operator trusts vouched for those.
 */

/** The default registrationMaxClients: Keycloak's Max Clients default for anonymous registration. */
export const DEFAULT_REGISTRATION_MAX_CLIENTS = 200;

/**
 * Whether a client counts as registered through open registration: it registered itself (it has a registration
 * access token, RFC 7592 §1.2) and not with an initial access token. A dynamic client stored before registrations
 * recorded how they were made (registeredThrough absent) counts as open: the policies err on the side of applying.
 */
export function openlyRegistered(client: Pick<ClientRecord, 'registrationAccessTokenHash' | 'registeredThrough'>): boolean {
  return client.registrationAccessTokenHash !== undefined && client.registeredThrough !== 'token';
}

/**
 * The quota is reached (RFC 7591 §3.2.2 answers registration errors 400 "unless otherwise specified", and its codes all
 * describe the request's metadata; a full tenant is the server refusing a request that is valid in itself). 403 with
 * `access_denied`, as a registration endpoint that is turned off answers (LK8029): RFC 9110 §15.5.4, the server
 * understood the request and refuses it; retrying does not help until a client is deleted, so not 429.
 */
export function maxClientsReached(max: number): OAuthError {
  return new OAuthError('access_denied', `open registration is closed: this server holds its limit of ${max} openly registered clients`, {
    status: 403,
    resultCode: 'LK7420',
  });
}

/**
 * A registrationTrustedHosts entry in its canonical form, or undefined when it is none. Entries are host names as
 * URLs carry them (`app.example.com`, `192.0.2.10`, `[2001:db8::1]`), lower-cased and IDN-encoded by the URL parser, or
 * a host name after a dot (`.example.com`), which stands for every host below it (not example.com itself: list that
 * too). No scheme, port, path or wildcard.
 */
export function trustedHostEntry(entry: string): string | undefined {
  const value = entry.trim().toLowerCase().replace(/\.$/, '');
  const suffix = value.startsWith('.');
  const host = suffix ? value.slice(1) : value;
  // Only what a URL authority's host may hold: no port, userinfo, path or wildcard to be misread.
  if (!host || !/^(\[[0-9a-f:.]+\]|[^\s/\\?#@:*[\]]+)$/.test(host)) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(`https://${host}/`);
  } catch {
    return undefined;
  }
  if (parsed.port || parsed.pathname !== '/' || !parsed.hostname) return undefined;
  const canonical = parsed.hostname.replace(/\.$/, '');
  // ".192.0.2.10" names nothing: an IP address has no hosts below it.
  if (suffix && (canonical.startsWith('[') || /^\d+\.\d+\.\d+\.\d+$/.test(canonical))) return undefined;
  return suffix ? `.${canonical}` : canonical;
}

/** Whether a host (a URL's hostname, lower case) is a trusted one: equal to an entry, or below a `.domain` entry. */
export function isTrustedHost(host: string, trusted: readonly string[]): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return trusted.some((t) => (t.startsWith('.') ? h.length > t.length && h.endsWith(t) : h === t));
}

/**
 * The host a redirect URI sends the user to: the URL's host; for a native app's private-use scheme (RFC 8252 §7.1, a
 * domain name the app's publisher controls, reversed), that domain: com.example.app:/cb is app.example.com's.
 */
function redirectHost(uri: string): string | undefined {
  const u = new URL(uri);
  if (u.protocol === 'http:' || u.protocol === 'https:') return u.hostname;
  return u.protocol.slice(0, -1).split('.').reverse().join('.');
}

/**
 * RFC 8252 §7.3: a native app receives its authorization response on the loopback interface of the device it runs on.
 * Such a redirect URI names no remote host that could be trusted or not: the response never leaves the user's own
 * machine, so it is accepted whatever the trusted hosts. (A web client's loopback URIs, a development convenience, are
 * not: list localhost or 127.0.0.1 to allow them.)
 */
function nativeLoopback(uri: string, applicationType: ClientMetadata['applicationType']): boolean {
  return applicationType === 'native' && httpLoopback(uri);
}

/** An http URI on the loopback interface (RFC 8252 §7.3): it names the user's own machine, no remote host. */
function httpLoopback(uri: string): boolean {
  const u = new URL(uri);
  return u.protocol === 'http:' && isLoopbackHost(u.hostname);
}

/**
 * registrationTrustedHosts: every URI of an openly registered client must lie on a trusted host: where users are sent
 * (redirect and post-logout redirect URIs: `invalid_redirect_uri`, LK7421), what the server calls or frames (logout
 * URIs, jwks_uri, sector_identifier_uri, request_uris), what its pages show or allow (logo, home page, policy and
 * terms links, CORS origins) and the client's login URI for third parties (initiate_login_uri):
 * `invalid_client_metadata`, LK7422. Empty: any host. Run on validated metadata, before anything is fetched (a
 * sector_identifier_uri on an untrusted host is refused unread).
 */
export function checkTrustedHosts(m: ClientMetadata, trusted: readonly string[]): void {
  if (!trusted.length) return;
  const redirects: [string, readonly string[] | undefined][] = [['redirect_uris', m.redirectUris], ['post_logout_redirect_uris', m.postLogoutRedirectUris]];
  for (const [field, uris] of redirects) {
    for (const uri of uris ?? []) {
      if (nativeLoopback(uri, m.applicationType)) continue;
      const host = redirectHost(uri);
      if (host === undefined || !isTrustedHost(host, trusted)) {
        // RFC 7591 §3.2.2: a redirection URI the server does not accept is invalid_redirect_uri.
        throw new OAuthError('invalid_redirect_uri', `${field}: ${JSON.stringify(uri.slice(0, 200))} is not on a host trusted for open registration`, {
          resultCode: 'LK7421',
        });
      }
    }
  }
  const others: [string, string | undefined][] = [
    ['backchannel_logout_uri', m.backchannelLogoutUri],
    ['frontchannel_logout_uri', m.frontchannelLogoutUri],
    ['jwks_uri', m.jwksUri],
    ['sector_identifier_uri', m.sectorIdentifierUri],
    ...(m.requestUris ?? []).map((u): [string, string] => ['request_uris', u]),
    ['logo_uri', m.logoUri],
    ['client_uri', m.clientUri],
    ['policy_uri', m.policyUri],
    ['tos_uri', m.tosUri],
    ['initiate_login_uri', m.initiateLoginUri],
    ...(m.allowedCorsOrigins ?? []).map((u): [string, string] => ['allowed_cors_origins', u]),
  ];
  for (const [field, uri] of others) {
    if (uri === undefined) continue;
    if (!isTrustedHost(new URL(uri).hostname, trusted)) {
      throw new OAuthError('invalid_client_metadata', `${field}: ${JSON.stringify(uri.slice(0, 200))} is not on a host trusted for open registration`, {
        resultCode: 'LK7422',
      });
    }
  }
}

/**
 * RFC 9700 §4.11.2: whether the server may send the user to this redirect URI of this client without the user having
 * seen anything (an error in the authorization request itself). A client an operator made, or one registered with an
 * initial access token, is trusted; an openly registered one only when its URI lies on a registrationTrustedHosts host
 * (or is an http loopback URI, which never leaves the user's machine): anyone may register a client whose
 * redirect URI is a phishing page and send users to it through the server with a request made to fail.
 */
export function redirectTrusted(
  client: Pick<ClientRecord, 'registrationAccessTokenHash' | 'registeredThrough' | 'applicationType'>,
  redirectUri: string,
  trusted: readonly string[],
): boolean {
  if (!openlyRegistered(client)) return true;
  try {
    // An http loopback URI (RFC 8252 §7.3; a web client's development URI too) sends the user to their own machine,
    // never to a page on someone else's host: the redirect is no phishing vector, whatever the application type.
    if (httpLoopback(redirectUri)) return true;
    const host = redirectHost(redirectUri);
    return trusted.length > 0 && host !== undefined && isTrustedHost(host, trusted);
  } catch {
    return false;
  }
}
