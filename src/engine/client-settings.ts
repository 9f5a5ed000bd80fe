import type { X509Certificate } from 'node:crypto';
import type { JSONWebKeySet } from 'jose';
import type { ClientKeySetOptions } from './client-keys.js';
import type { RemoteAddressPolicy } from './remote.js';

/** Server-wide client policy the engine reads (ctx.clients), built once from the configuration. */
export interface ClientSettings {
  /** CA certificates trusted for tls_client_auth (RFC 8705 §2.1); empty: no PKI client certificate verifies. */
  trustAnchors: readonly X509Certificate[];
  /** Whether a client certificate can reach the engine at all (an HTTPS listener or a trusted proxy header). */
  certificatesAvailable: boolean;
  /** How client jwks_uri documents are fetched and cached. */
  keySet: ClientKeySetOptions;
  /** Dynamic client registration (RFC 7591): off, open, or gated by initial access tokens. */
  registration: 'off' | 'open' | 'token';
  /** Scopes a dynamically registered client may register. */
  registrationScopes: readonly string[];
  /** Clients open registration may hold per tenant (registration-policy.ts); 0 = no limit. Absent: the default, 200. */
  registrationMaxClients?: number;
  /** Hosts the URIs of openly registered clients must lie on (registration-policy.ts trustedHostEntry form); empty or absent: any. */
  registrationTrustedHosts?: readonly string[];
  /** Keys of issuers trusted to sign software statements (RFC 7591 §2.3); absent: statements are rejected. */
  softwareStatementKeys?: JSONWebKeySet;
  /** Fetch http:// sector_identifier_uri documents too (development only; insecureAllowHttpSectorIdentifierUri). */
  allowHttpSectorIdentifierUri?: boolean;
  /**
   * RFC 8705 §5: where the mTLS endpoint aliases are (configuration mtlsBaseUrl): the server's issuer and the base
   * URL that replaces it in the aliases. A tenant whose issuer lies under the server's gets aliases under the base.
   */
  mtls?: { issuer: string; baseUrl: string };
  /** Which addresses outbound fetches may reach (insecureRemoteFetchAddresses); registration refuses URIs it rules out. */
  remoteFetchAddresses?: RemoteAddressPolicy;
}
