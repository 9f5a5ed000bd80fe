import { createLocalJWKSet, errors, jwtVerify } from 'jose';
import { ASYMMETRIC_ASSERTION_ALGS } from './client-assertion.js';
import type { EngineContext } from './context.js';
import { OAuthError } from './errors.js';

/** Claims of a software statement that describe the JWT itself rather than the client. */
const JWT_CLAIMS = ['iss', 'sub', 'aud', 'iat', 'exp', 'nbf', 'jti'];
/** Never taken from a statement: identifiers and secrets are issued by us, consent policy is the operator's. */
const NEVER_FROM_STATEMENT = ['client_id', 'client_secret', 'skip_consent', 'software_statement', 'registration_access_token', 'registration_client_uri'];

/**
 * RFC 7591 §2.3, §3.1.1: a software statement is a JWT asserting client metadata, signed by an issuer the server
 * trusts (configuration `softwareStatementJwks`). Its values take precedence over the same fields sent in plain
 * JSON; the statement itself is kept and returned unmodified (§3.2.1).
 *
 * Decision: without any trusted issuer configured, a statement is rejected (invalid_software_statement) rather
 * than ignored (which §3.1.1 also allows): a client that sends one relies on what it asserts, and silently
 * registering the plain-JSON values instead would give it a registration it did not ask for.
 */
export async function applySoftwareStatement(ctx: EngineContext, input: Record<string, unknown>): Promise<Record<string, unknown>> {
  const statement = input.software_statement;
  if (statement === undefined) return input;
  const invalid = (msg: string) => new OAuthError('invalid_software_statement', msg, { resultCode: 'LK8026' });
  if (typeof statement !== 'string') throw invalid('software_statement must be a JWT string');
  const keys = ctx.clients?.softwareStatementKeys;
  if (!keys) throw invalid('this server accepts no software statements (no trusted issuer is configured)');
  let claims: Record<string, unknown>;
  try {
    ({ payload: claims } = await jwtVerify(statement, createLocalJWKSet(keys), {
      algorithms: [...ASYMMETRIC_ASSERTION_ALGS],
      currentDate: new Date(ctx.clock()),
      clockTolerance: 30,
      requiredClaims: ['iss'], // RFC 7591 §2.3: MUST contain an iss claim
    }));
  } catch (e) {
    if (e instanceof errors.JWKSNoMatchingKey) {
      throw new OAuthError('unapproved_software_statement', 'the software statement is not signed by a trusted issuer', { resultCode: 'LK8026' });
    }
    throw invalid(`the software statement does not verify: ${(e as Error).message}`);
  }
  const asserted = Object.fromEntries(Object.entries(claims).filter(([k]) => !JWT_CLAIMS.includes(k) && !NEVER_FROM_STATEMENT.includes(k)));
  return { ...input, ...asserted, software_statement: statement };
}
