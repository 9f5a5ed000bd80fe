import { createHash, X509Certificate } from 'node:crypto';
import { fapiAlgs, isFapi } from './fapi.js';
import type { ClientRecord, TokenRecord } from '../store/types.js';
import { bearerError } from './bearer.js';
import { endpointsOf, type EngineContext } from './context.js';
import { OAuthError } from './errors.js';
import type { Params } from './params.js';
import { verifyDpopProof } from './dpop.js';

/** What a client presented beside its access token to prove it holds the key the token is bound to. */
export interface PresentedProof {
  /** The DPoP header's value (RFC 9449 §4.1). */
  dpop?: string;
  /** Method and URI of the request the token and proof came with (RFC 9449 §4.3 steps 8, 9). */
  htm?: string;
  htu?: string;
  /** The client's TLS certificate, PEM (RFC 8705 §3). */
  clientCertificate?: string;
}

/** The token's confirmation (RFC 7800 §3.1): cnf.jkt (RFC 9449 §6) or cnf["x5t#S256"] (RFC 8705 §3.1). */
export function confirmationOf(record: TokenRecord): { jkt?: string; x5t?: string } {
  const cnf = record.data.cnf;
  if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf)) return {};
  const c = cnf as Record<string, unknown>;
  return {
    jkt: typeof c.jkt === 'string' ? c.jkt : undefined,
    x5t: typeof c['x5t#S256'] === 'string' ? (c['x5t#S256'] as string) : undefined,
  };
}

/** RFC 8705 §3.1: base64url SHA-256 of the DER certificate; undefined when the PEM does not parse. */
export function certificateThumbprint(pem: string): string | undefined {
  try {
    return createHash('sha256').update(new X509Certificate(pem).raw).digest('base64url');
  } catch {
    return undefined;
  }
}

/**
 * A sender-constrained access token is accepted only with proof of its key: a DPoP proof signed by the bound key
 * and carrying the token's hash (RFC 9449 §7.1), or the bound client certificate (RFC 8705 §3). Unbound tokens
 * pass. Fails closed: a binding that cannot be checked refuses the token.
 */
export async function checkTokenBinding(ctx: EngineContext, record: TokenRecord, token: string, presented: PresentedProof): Promise<void> {
  const { jkt, x5t } = confirmationOf(record);
  if (jkt !== undefined) {
    // FAPI 2.0 §5.4.1: the proofs of a FAPI client's token (its own fapi_profile, or the tenant's) at protected
    // resources too, as at the token endpoint; RFC 9449 §7.1: and the challenges name only those. The client as it
    // is now (lookupToken has just read it: a cache hit), as every other per-client rule goes.
    const algs = fapiAlgs(await ctx.store.findClient(ctx.tenant.id, record.clientId), ctx.tenant.settings);
    if (!presented.dpop) {
      throw bearerError('invalid_token', 'the access token is DPoP-bound: a DPoP proof is required', 401, { scheme: 'DPoP', resultCode: 'LK11014', algs });
    }
    const proof = await verifyDpopProof(ctx, presented.dpop, { htm: presented.htm, htu: presented.htu, accessToken: token, algs });
    if (proof.jkt !== jkt) throw bearerError('invalid_token', 'invalid DPoP key binding', 401, { scheme: 'DPoP', resultCode: 'LK11016', algs });
  }
  if (x5t !== undefined) {
    // RFC 8705 §3: no certificate, or another one: 401 invalid_token.
    const presentedX5t = presented.clientCertificate ? certificateThumbprint(presented.clientCertificate) : undefined;
    if (presentedX5t !== x5t) {
      throw bearerError('invalid_token', 'the access token is bound to another client certificate', 401, { resultCode: 'LK11017' });
    }
  }
}

/** The scheme of the Authorization header an access token came in: RFC 6750 §2.1 or RFC 9449 §7.1. */
export type TokenScheme = 'Bearer' | 'DPoP';

/**
 * The proof to check a token's binding with, given the scheme it was presented with: the DPoP scheme is for
 * DPoP-bound tokens only (RFC 9449 §7.1), and a DPoP-bound token presented as Bearer is refused whatever proof came
 * with it (RFC 9449 §7.2: no downgrade), so its proof is dropped and checkTokenBinding refuses it.
 */
export function proofForScheme(record: TokenRecord, scheme: TokenScheme, presented: PresentedProof, algs?: readonly string[]): PresentedProof {
  if (scheme === 'DPoP' && confirmationOf(record).jkt === undefined) {
    // RFC 9449 §7.2: the request used the DPoP scheme, so the DPoP challenge carries the error (as in resource-server/verifier.ts).
    throw bearerError('invalid_token', 'the access token is not DPoP-bound: present it as Bearer', 401, { scheme: 'DPoP', resultCode: 'LK4003', algs });
  }
  return scheme === 'DPoP' ? presented : { ...presented, dpop: undefined };
}

/** What the token endpoint receives beside the grant: the DPoP header and the client certificate. */
export interface TokenRequestProof {
  dpop?: string;
  htm?: string;
  htu?: string;
  clientCertificate?: string;
}

/**
 * The confirmation the tokens of this token request are bound to: the DPoP proof's key (RFC 9449 §5, checked with
 * the token endpoint's URL built from the issuer unless a Core API caller names its own), and the client
 * certificate when the client registered tls_client_certificate_bound_access_tokens (RFC 8705 §3).
 */
export async function tokenRequestConfirmation(
  ctx: EngineContext,
  client: ClientRecord,
  input: TokenRequestProof,
): Promise<EngineContext['confirmation']> {
  const cnf: NonNullable<EngineContext['confirmation']> = {};
  if (input.dpop !== undefined) {
    const proof = await verifyDpopProof(ctx, input.dpop, { htm: input.htm ?? 'POST', htu: input.htu ?? endpointsOf(ctx.tenant.issuer).token, site: 'token', algs: fapiAlgs(client, ctx.tenant.settings) });
    cnf.jkt = proof.jkt;
  } else if (client.dpopBoundAccessTokens) {
    throw new OAuthError('invalid_request', 'this client must send a DPoP proof', { resultCode: 'LK13003' }); // RFC 9449 §5.2
  }
  if (client.tlsClientCertificateBoundAccessTokens) {
    const x5t = input.clientCertificate ? certificateThumbprint(input.clientCertificate) : undefined;
    if (!x5t) throw new OAuthError('invalid_request', 'this client must present its TLS client certificate', { resultCode: 'LK13007' }); // RFC 8705 §3
    cnf['x5t#S256'] = x5t;
  }
  if (isFapi(client, ctx.tenant.settings) && !cnf.jkt && !cnf['x5t#S256']) {
    // FAPI 2.0 §5.3.2.1: only sender-constrained access tokens, by DPoP or mTLS. A client that authenticated
    // with its certificate has its tokens bound to it (RFC 8705 §3); any other needs a DPoP proof. Never a bearer token.
    const x5t = input.clientCertificate ? certificateThumbprint(input.clientCertificate) : undefined;
    if (!x5t) throw new OAuthError('invalid_request', 'this client\'s access tokens must be sender-constrained: send a DPoP proof or present the TLS client certificate (FAPI 2.0)', { resultCode: 'LK7464' });
    cnf['x5t#S256'] = x5t;
  }
  return cnf.jkt || cnf['x5t#S256'] ? cnf : undefined;
}

/**
 * RFC 9449 §5: a refresh token bound to a DPoP key (public clients) is used only with a proof by that key; RFC 8705
 * §4: one bound to a certificate only with that certificate (`clientCertificate`, the request's, PEM). The
 * certificate is compared whatever the client's registration says now, so a binding is never dropped silently.
 * `record` is the refresh token's.
 */
export function checkRefreshBinding(ctx: EngineContext, record: TokenRecord, clientCertificate?: string): void {
  const { jkt, x5t } = confirmationOf(record);
  if (jkt !== undefined && ctx.confirmation?.jkt !== jkt) {
    throw new OAuthError('invalid_grant', 'the refresh token is bound to another DPoP key', { resultCode: 'LK13004' });
  }
  // RFC 8705 §4 (and §7.1): invalid_grant, as for the DPoP binding above.
  if (x5t !== undefined && (clientCertificate ? certificateThumbprint(clientCertificate) : undefined) !== x5t) {
    throw new OAuthError('invalid_grant', 'the refresh token is bound to another client certificate', { resultCode: 'LK7160' });
  }
}

/**
 * RFC 9449 §10.1: a DPoP proof sent with a pushed authorization request binds the code like dpop_jkt; when both
 * are sent they must name the same key. Returns the parameters to keep, with dpop_jkt set. Called after the
 * checks, so that it applies to the parameters of a request object too.
 */
export async function pushedDpopJkt(ctx: EngineContext, dpop: string | undefined, params: Params, target: { htm?: string; htu?: string } = {}, client?: ClientRecord): Promise<Params> {
  if (dpop === undefined) return params;
  const { jkt } = await verifyDpopProof(ctx, dpop, { htm: target.htm ?? 'POST', htu: target.htu ?? endpointsOf(ctx.tenant.issuer).pushedAuthorizationRequest, site: 'token', algs: fapiAlgs(client, ctx.tenant.settings) });
  const sent = params.get('dpop_jkt');
  if (sent !== undefined && sent !== jkt) {
    throw new OAuthError('invalid_dpop_proof', 'dpop_jkt does not match the key of the DPoP proof', { resultCode: 'LK13006' });
  }
  // RFC 9449 §10.1: the proof only adds dpop_jkt; repeated parameters (RFC 8707 §2 resource) keep every value.
  return params.with('dpop_jkt', jkt);
}
