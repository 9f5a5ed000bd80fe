import type { ResultCode } from '../engine/result-codes.js';

/** RFC 6750 §3.1 error codes, and RFC 9449 §7.1's for DPoP proofs. */
export type ResourceErrorCode = 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'invalid_dpop_proof';

/** The authentication scheme a challenge is issued for (RFC 6750 §3, RFC 9449 §7.1). */
export type TokenScheme = 'Bearer' | 'DPoP';

/**
 * Why a protected resource refused a request. `status` and `wwwAuthenticate()` are what goes back to the client;
 * `resultCode` (from the catalogue, docs/result-codes.md) and `detail` are for logs and never sent.
 */
export class TokenRejection extends Error {
  override name = 'TokenRejection';

  constructor(
    /** undefined when the request carried no credentials: RFC 6750 §3.1 says the challenge has no error code then. */
    readonly error: ResourceErrorCode | undefined,
    readonly description: string,
    readonly status: number,
    readonly resultCode: ResultCode,
    readonly opts: { scheme?: TokenScheme; scope?: string[]; detail?: string } = {},
  ) {
    super(error ? `${error}: ${description}` : description);
  }

  /** The scheme the challenge names: the one the client used, or DPoP when the token is DPoP-bound. */
  get scheme(): TokenScheme {
    return this.opts.scheme ?? 'Bearer';
  }

  get detail(): string | undefined {
    return this.opts.detail;
  }

  /**
   * The WWW-Authenticate header value (RFC 6750 §3, RFC 9449 §7.1). With no credentials at all, both schemes are
   * offered (RFC 9449 §7.2), without an error code.
   */
  wwwAuthenticate(realm: string | undefined, dpopAlgs: readonly string[]): string {
    const base = realm !== undefined ? [`realm=${quote(realm)}`] : [];
    const dpop = [`algs=${quote(dpopAlgs.join(' '))}`];
    if (this.error === undefined) {
      return [challenge('Bearer', base), challenge('DPoP', [...base, ...dpop])].join(', ');
    }
    const params = [...base, `error=${quote(this.error)}`, `error_description=${quote(this.description)}`];
    if (this.error === 'insufficient_scope' && this.opts.scope?.length) params.push(`scope=${quote(this.opts.scope.join(' '))}`);
    if (this.scheme === 'DPoP') params.push(...dpop);
    return challenge(this.scheme, params);
  }

  /** A small JSON body mirroring the challenge (RFC 6750 leaves the body open). */
  body(): Record<string, string> {
    return this.error ? { error: this.error, error_description: this.description } : { error_description: this.description };
  }
}

/**
 * The authorization server (discovery, JWKS or introspection) could not be reached or answered nonsense. Not the
 * client's fault, so not an invalid_token: the client keeps its token and retries later (503).
 */
export class AuthorizationServerUnavailable extends Error {
  override name = 'AuthorizationServerUnavailable';
  readonly resultCode: ResultCode = 'LK12006';
  readonly status = 503;

  constructor(what: string, cause?: unknown) {
    super(`authorization server unavailable: ${what}`, { cause });
  }

  body(): Record<string, string> {
    return { error: 'temporarily_unavailable', error_description: 'the authorization server cannot be reached; try again later' };
  }
}

function challenge(scheme: string, params: string[]): string {
  return params.length ? `${scheme} ${params.join(', ')}` : scheme;
}

/** RFC 9110 §5.6.4 quoted-string. */
function quote(v: string): string {
  return `"${v.replace(/[\\"]/g, (c) => '\\' + c).replace(/[\r\n]/g, ' ')}"`;
}
