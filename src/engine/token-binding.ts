import { createHash, X509Certificate } from 'node:crypto';
import type { TokenRecord } from '../store/types.js';
import { bearerError } from './bearer.js';
import type { EngineContext } from './context.js';
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
    if (!presented.dpop) {
      throw bearerError('invalid_token', 'the access token is DPoP-bound: a DPoP proof is required', 401, { scheme: 'DPoP', resultCode: 'LK11014' });
    }
    const proof = await verifyDpopProof(ctx, presented.dpop, { htm: presented.htm, htu: presented.htu, accessToken: token });
    if (proof.jkt !== jkt) throw bearerError('invalid_token', 'invalid DPoP key binding', 401, { scheme: 'DPoP', resultCode: 'LK11016' });
  }
  if (x5t !== undefined) {
    // RFC 8705 §3: no certificate, or another one: 401 invalid_token.
    const presentedX5t = presented.clientCertificate ? certificateThumbprint(presented.clientCertificate) : undefined;
    if (presentedX5t !== x5t) {
      throw bearerError('invalid_token', 'the access token is bound to another client certificate', 401, { resultCode: 'LK11017' });
    }
  }
}
