import { newHandle, newOrderedHandle } from '../../tokens/handles.js';
import { type EngineContext, futureAuthTime, nowSeconds } from '../context.js';
import { OAuthError } from '../errors.js';
import { encryptionKeyFor } from '../response-encryption.js';
import { parseScope } from '../params.js';
import { loadResources, resourceParams, tokenTarget } from '../resources.js';
import { failureResult, jsonResult, runEngine, type Result } from '../result.js';
import { resultCodes } from '../result-codes.js';
import { issueUserTokens } from './issue.js';
import type { GrantHandler, TokenAction, TokenResult } from './types.js';

/**
 * RFC 6749 §4.3: the resource owner password credentials grant, off unless a client registered it (with
 * `insecure_password_grant`, RFC 9700 §2.4). Two steps, like authorization: the engine validates the request
 * and answers PASSWORD with the username, the password and a ticket; the caller verifies the credentials its
 * own way, then finishes with tokenIssue({ticket, subject}) or tokenFail({ticket, reason}). The built-in HTTP
 * server does so against its users (services/password-grant.ts), behind the login page's rate limits.
 * The password is never stored: the ticket keeps only what was validated (client, scope, resources).
 */

/** Tickets of this grant live in the ticket table under their own hash prefix, so the two flows never mix. */
const ticketHash = (ctx: EngineContext, ticket: string) => ctx.hasher.hash(`password-grant:${ticket}`);
/** The caller verifies at once; the ticket need not outlive a slow password hash by much. */
export const PASSWORD_TICKET_TTL = 120;

interface PasswordTicket {
  scope: string[];
  scopeRequested: boolean;
  resources: string[];
  /** The DPoP key (RFC 9449 §5) or certificate (RFC 8705 §3) the token request proved: the tokens are bound to it. */
  confirmation?: EngineContext['confirmation'];
}

export const passwordGrant: GrantHandler = async (params, { client }, ctx) => {
  const username = params.require('username');
  const password = params.require('password');
  if (username.length > 255 || password.length > 1024) {
    throw new OAuthError('invalid_request', 'username or password is too long', { resultCode: 'LK6014' });
  }
  const requested = parseScope(params.get('scope'));
  for (const s of requested) {
    if (!client.scope.includes(s)) throw new OAuthError('invalid_scope', `scope ${s} is not allowed for this client`, { resultCode: 'LK2003' });
  }
  // RFC 6749 §3.3: no scope asked for means the client's registered scope.
  const scope = params.has('scope') ? requested : client.scope;
  const named = resourceParams(params);
  // Fail a bad target now, before the caller spends a password check on it.
  await tokenTarget(ctx, client, { resources: await loadResources(ctx, client, named), scope, scopeRequested: params.has('scope') });

  const ticket = newHandle(ctx.random);
  const data: PasswordTicket = { scope, scopeRequested: params.has('scope'), resources: named, ...(ctx.confirmation ? { confirmation: ctx.confirmation } : {}) };
  await ctx.store.insertTicket({
    tenantId: ctx.tenant.id,
    hash: ticketHash(ctx, ticket),
    clientId: client.clientId,
    expiresAt: nowSeconds(ctx) + PASSWORD_TICKET_TTL,
    consumedAt: null,
    data: { kind: 'password', ...data, clientCreatedAt: client.createdAt },
  });
  const result: TokenResult = {
    action: 'PASSWORD',
    resultCode: 'LK6010',
    resultMessage: resultCodes.LK6010,
    // Nothing goes to the client yet: the caller answers with tokenIssue's or tokenFail's result.
    responseContent: '',
    status: 200,
    ticket,
    username,
    password,
    clientId: client.clientId,
    scopes: scope,
    resources: named,
  };
  return result;
};

export interface TokenIssueInput {
  ticket: string;
  /** The resource owner's `sub`, as the caller established it. */
  subject: string;
  /** When the credentials were verified (epoch seconds); now when absent. */
  authTime?: number;
  /** How the user authenticated; the tenant's defaultAcr (a password sign-in) when absent. */
  acr?: string;
  /** RFC 8176 methods; ['pwd'] when absent. */
  amr?: string[];
}

const actionFor = (e: OAuthError): TokenAction => (e.code === 'invalid_client' ? 'INVALID_CLIENT' : e.code === 'server_error' ? 'INTERNAL_SERVER_ERROR' : 'BAD_REQUEST');

async function consume(ctx: EngineContext, ticket: unknown) {
  const unknown = new OAuthError('invalid_grant', 'the password grant request is unknown or expired', { resultCode: 'LK6013' });
  if (typeof ticket !== 'string' || ticket.length === 0 || ticket.length > 100) throw unknown;
  const now = nowSeconds(ctx);
  const t = await ctx.store.consumeTicket(ctx.tenant.id, ticketHash(ctx, ticket), now);
  if (!t || t.expiresAt <= now || t.data.kind !== 'password') throw unknown;
  const client = await ctx.store.findClient(ctx.tenant.id, t.clientId);
  if (!client || !client.grantTypes.includes('password')) throw unknown;
  // The client record the request was made by, not one registered since under the same client_id.
  if (typeof t.data.clientCreatedAt === 'number' && t.data.clientCreatedAt !== client.createdAt) throw unknown;
  return { client, data: t.data as unknown as PasswordTicket };
}

/**
 * Step two, success: the caller verified the credentials of `subject`; issue the tokens (RFC 6749 §4.3.3).
 * `builtInUser`: the subject is a user of the tenant's users table (the built-in server's password grant, not a
 * Core API caller's own user): it is read again, locked, in the issuing transaction, so a user disabled or deleted
 * since the password check (argon2 takes a while) gets no tokens that the disable's revocation would miss.
 */
export function tokenIssue(input: TokenIssueInput, ctx: EngineContext, opts: { builtInUser?: boolean } = {}): Promise<Result<TokenAction>> {
  return runEngine(
    async () => {
      if (typeof input.subject !== 'string' || input.subject.length === 0 || input.subject.length > 255) {
        throw new OAuthError('invalid_request', 'subject must be a non-empty string', { resultCode: 'LK0004' });
      }
      const future = futureAuthTime(ctx, input.authTime);
      if (future) throw new OAuthError('invalid_request', future, { resultCode: 'LK7390' }); // before the ticket is spent
      const { client, data } = await consume(ctx, input.ticket);
      const now = nowSeconds(ctx);
      const grantId = newOrderedHandle(ctx.random, ctx.clock(), 16); // not a secret; ordered: appended to its indexes
      // The binding proved at the token request holds for the tokens issued now.
      let bound: EngineContext = data.confirmation ? { ...ctx, confirmation: data.confirmation } : ctx;
      // OIDC Core §10.2: the client's ID token encryption key, resolved outside the transaction and carried to
      // mintIdToken (token/index.ts); with none usable the request is refused here, before any write.
      if (client.idTokenEncryptedResponseAlg !== undefined && data.scope.includes('openid')) bound = { ...bound, idTokenEncryption: await encryptionKeyFor(ctx, client, 'id_token', 'LK7240') };
      const body = await ctx.store.transaction(async (tx) => {
        const txCtx = { ...bound, store: tx };
        if (opts.builtInUser) {
          const user = await tx.findUserLocked(ctx.tenant.id, input.subject);
          if (!user || user.disabled) {
            throw new OAuthError('invalid_grant', 'invalid username or password', { resultCode: 'LK6011', detail: 'the user was disabled or deleted during the password check' });
          }
        }
        const resources = await loadResources(txCtx, client, data.resources);
        const target = await tokenTarget(txCtx, client, { resources, scope: data.scope, scopeRequested: data.scopeRequested });
        await tx.insertGrant({
          tenantId: ctx.tenant.id,
          id: grantId,
          clientId: client.clientId,
          subject: input.subject,
          scope: data.scope,
          createdAt: now,
          revokedAt: null,
          data: { resources: data.resources, gty: 'password' },
        });
        return issueUserTokens(bound, tx, {
          client,
          grantId,
          subject: input.subject,
          target,
          resources: data.resources,
          refreshScope: data.scope,
          authTime: input.authTime ?? now,
          // As authorizationIssue and deviceComplete do: a password sign-in's acr unless the caller names another.
          acr: input.acr ?? ctx.tenant.settings.defaultAcr,
          amr: input.amr ?? ['pwd'],
        });
      });
      if (data.confirmation?.jkt && body.token_type === 'Bearer') body.token_type = 'DPoP'; // RFC 9449 §5
      return jsonResult('OK', 200, 'LK2001', body);
    },
    actionFor,
    'INTERNAL_SERVER_ERROR',
    ctx.log,
  );
}

/** Why the caller refused; each maps to the error the client receives. */
export const PASSWORD_FAIL_REASONS = {
  /** RFC 6749 §5.2: invalid_grant covers invalid resource owner credentials. */
  INVALID_CREDENTIALS: ['invalid_grant', 'invalid username or password', 'LK6011'],
  /** Brute-force protection: refused without checking; the same invalid_grant, with Retry-After. */
  RATE_LIMITED: ['invalid_grant', 'too many failed attempts; try again later', 'LK6012'],
  SERVER_ERROR: ['server_error', 'the credentials could not be verified', 'LK6015'],
  /** The account signs in in two steps (a password and a code): this grant has no way to ask for the second. */
  SECOND_FACTOR_REQUIRED: ['invalid_grant', 'this account uses two-step sign-in, which the password grant cannot complete; sign in through the browser', 'LK6016'],
} as const;
export type PasswordFailReason = keyof typeof PASSWORD_FAIL_REASONS;

/** Step two, failure: the credentials did not check out (or could not be checked). */
export async function tokenFail(
  input: { ticket: string; reason: PasswordFailReason; retryAfter?: number },
  ctx: EngineContext,
): Promise<Result<TokenAction>> {
  try {
    const entry = Object.hasOwn(PASSWORD_FAIL_REASONS, input.reason) ? PASSWORD_FAIL_REASONS[input.reason] : undefined;
    if (!entry) return jsonResult('BAD_REQUEST', 400, 'LK0004', { error: 'invalid_request', error_description: 'unknown reason' });
    try {
      await consume(ctx, input.ticket);
    } catch (e) {
      if (e instanceof OAuthError) return jsonResult('BAD_REQUEST', 400, 'LK6013', e.body());
      throw e;
    }
    const [error, description, rc] = entry;
    const headers: Record<string, string> = {};
    if (input.reason === 'RATE_LIMITED' && Number.isInteger(input.retryAfter) && input.retryAfter! > 0) headers['Retry-After'] = String(input.retryAfter);
    if (error === 'server_error') return jsonResult('INTERNAL_SERVER_ERROR', 500, rc, { error, error_description: description }, { headers });
    return jsonResult('BAD_REQUEST', 400, rc, { error, error_description: description }, { headers });
  } catch (e) {
    return failureResult(e, actionFor, 'INTERNAL_SERVER_ERROR', ctx.log);
  }
}
