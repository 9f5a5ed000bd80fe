import { z } from 'zod';
import { authorization, authorizationFail, authorizationIssue, FAIL_REASONS, type FailReason } from '../engine/authorization/index.js';
import type { EngineContext } from '../engine/context.js';
import { introspection } from '../engine/introspection.js';
import { serviceConfiguration, serviceJwks } from '../engine/metadata.js';
import { resourceIntrospection } from '../engine/resource-introspection.js';
import type { Result } from '../engine/result.js';
import { revocation } from '../engine/revocation.js';
import { token } from '../engine/token/index.js';
import { userinfoIssue, userinfoRequest } from '../engine/userinfo.js';

/*
 * The Core API: the protocol engine as a JSON service. One row per endpoint: the path under /api/{serviceId}/,
 * the request schema (checked at the edge, camelCase fields), the actions the engine can answer with, the extra
 * fields of the answer (documentation), and the engine function the built-in endpoint calls too. No protocol
 * rule lives here: a row only renames fields into the engine's input.
 *
 * To wire after merge: auth/token/issue and auth/token/fail (password grant, branch tok2), pushed authorization
 * requests and device authorization (branch front), client registration (branch clients): one row each.
 */

export interface CoreApiEndpoint<S extends z.ZodType = z.ZodType> {
  /** Path under /api/{serviceId}/. */
  path: string;
  summary: string;
  /** What the caller does for each action (OpenAPI description; docs/core-api.md says the same at length). */
  description: string;
  input: S;
  actions: readonly string[];
  /** Endpoint-specific fields of the answer, besides action, resultCode, resultMessage, responseContent, status, headers. */
  output: z.ZodObject;
  /** Also answer GET (endpoints without input). */
  get?: boolean;
  call(input: z.output<S>, ctx: EngineContext): Promise<Result>;
}

const endpoint = <S extends z.ZodType>(e: CoreApiEndpoint<S>): CoreApiEndpoint => e as unknown as CoreApiEndpoint;

/* Request fields shared by several endpoints. */

const parameters = z
  .string()
  .describe('The request parameters exactly as received: the raw query string of a GET, or the raw application/x-www-form-urlencoded body of a POST. Not parsed, not decoded.');
const contentType = z.string().optional().describe('The Content-Type the request came with; anything but form encoding is invalid_request (RFC 6749 §3.2).');
const clientAuth = {
  authorization: z.string().optional().describe('The Authorization header as received; HTTP Basic is decoded by Latchkey (RFC 6749 §2.3.1). Or pass clientId/clientSecret.'),
  clientId: z.string().optional().describe('The client_id from HTTP Basic, already decoded.'),
  clientSecret: z.string().optional().describe('The client_secret from HTTP Basic, already decoded.'),
};
const proof = {
  dpop: z.string().optional().describe('The DPoP header as received (RFC 9449 §4.1).'),
  htm: z.string().optional().describe('The HTTP method of the request (with dpop).'),
  htu: z.string().optional().describe('The full URL of the request (with dpop).'),
  clientCertificate: z.string().optional().describe('The client\'s TLS certificate, PEM (RFC 8705).'),
};
const strings = z.array(z.string());

/** A caller's mistake with the client-credential fields is named, not silently ignored. */
function credentialFields(v: { authorization?: string; clientId?: string; clientSecret?: string }, ctx: z.RefinementCtx): void {
  if (v.clientSecret !== undefined && v.clientId === undefined) ctx.addIssue({ code: 'custom', path: ['clientId'], message: 'required with clientSecret' });
  if (v.authorization !== undefined && v.clientId !== undefined) ctx.addIssue({ code: 'custom', path: ['clientId'], message: 'pass either authorization or clientId/clientSecret, not both' });
}
function proofFields(v: { dpop?: string; htm?: string; htu?: string }, ctx: z.RefinementCtx): void {
  if (v.dpop === undefined) return;
  if (v.htm === undefined) ctx.addIssue({ code: 'custom', path: ['htm'], message: 'required with dpop' });
  if (v.htu === undefined) ctx.addIssue({ code: 'custom', path: ['htu'], message: 'required with dpop' });
}

/* Answer fields (documentation). */

const clientView = z.object({ clientId: z.string(), clientName: z.string().optional(), logoUri: z.string().optional(), clientUri: z.string().optional() });
const noExtra = z.object({});

export const CORE_API: readonly CoreApiEndpoint[] = [
  endpoint({
    path: 'auth/authorization',
    summary: 'Validate an authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1)',
    description:
      'INTERACTION: sign the user in and get consent as `prompt`, `maxAge`, `loginHint` ask, then call auth/authorization/issue or /fail with the ticket. ' +
      'NO_INTERACTION (prompt=none): do not show a page; issue if the user is signed in and has consented, else fail with LOGIN_REQUIRED or CONSENT_REQUIRED. ' +
      'LOCATION: redirect the user agent to responseContent. FORM: send responseContent as an HTML page. ' +
      'BAD_REQUEST: show the user an error page (responseContent is the JSON error); never redirect. INTERNAL_SERVER_ERROR: show a 500 page.',
    input: z.object({ parameters }).strict(),
    actions: ['INTERACTION', 'NO_INTERACTION', 'LOCATION', 'FORM', 'BAD_REQUEST', 'INTERNAL_SERVER_ERROR'],
    output: z.object({
      ticket: z.string().optional().describe('With INTERACTION / NO_INTERACTION: pass it to auth/authorization/issue or /fail.'),
      client: clientView.optional(),
      scopes: strings.optional().describe('The scopes to consent to (those the client may have).'),
      prompt: strings.optional(),
      maxAge: z.number().int().optional().describe('Seconds: a sign-in older than this needs a new one.'),
      loginHint: z.string().optional(),
      idTokenHintSub: z.string().optional().describe('The sub of a valid id_token_hint: the user the client expects.'),
      acrs: strings.optional().describe('Requested acr_values, in order of preference.'),
      uiLocales: strings.optional(),
    }),
    call: (i, ctx) => authorization({ parameters: i.parameters }, ctx),
  }),
  endpoint({
    path: 'auth/authorization/issue',
    summary: 'Finish an authorization request: the user signed in and consented',
    description: 'LOCATION: redirect the user agent to responseContent (the code goes to the client). BAD_REQUEST: the ticket is unknown, expired or used. INTERNAL_SERVER_ERROR: show a 500 page.',
    input: z
      .object({
        ticket: z.string().min(1),
        subject: z.string().min(1).max(255).describe('The user\'s stable identifier: the sub of the ID token.'),
        authTime: z.number().int().nonnegative().describe('When the user authenticated, epoch seconds (the ID token\'s auth_time).'),
        acr: z.string().optional(),
        amr: strings.optional(),
        sid: z.string().max(255).optional().describe('The caller\'s session id for the ID token\'s sid (OIDC Front/Back-Channel Logout).'),
        scopes: strings.optional().describe('The scopes the user consented to; narrows the request\'s, never widens it.'),
      })
      .strict(),
    actions: ['LOCATION', 'FORM', 'BAD_REQUEST', 'INTERNAL_SERVER_ERROR'],
    output: noExtra,
    call: (i, ctx) => authorizationIssue(i, ctx),
  }),
  endpoint({
    path: 'auth/authorization/fail',
    summary: 'Finish an authorization request with an error for the client',
    description: 'LOCATION: redirect the user agent to responseContent (the error goes to the client). BAD_REQUEST: the ticket is unknown, expired or used. INTERNAL_SERVER_ERROR: show a 500 page.',
    input: z
      .object({
        ticket: z.string().min(1),
        reason: z.enum(Object.keys(FAIL_REASONS) as [FailReason, ...FailReason[]]),
        description: z.string().max(200).optional().describe('error_description for the client; a default per reason otherwise.'),
      })
      .strict(),
    actions: ['LOCATION', 'FORM', 'BAD_REQUEST', 'INTERNAL_SERVER_ERROR'],
    output: noExtra,
    call: (i, ctx) => authorizationFail(i, ctx),
  }),
  endpoint({
    path: 'auth/token',
    summary: 'The token endpoint (RFC 6749 §3.2)',
    description:
      'OK, INVALID_CLIENT, BAD_REQUEST, INTERNAL_SERVER_ERROR: reply to the client with status, headers and responseContent (JSON). ' +
      'PASSWORD (resource owner password grant, once enabled): verify username and password, then call the password grant\'s issue or fail endpoint.',
    input: z.object({ parameters, contentType, ...clientAuth, ...proof }).strict().superRefine(credentialFields).superRefine(proofFields),
    actions: ['OK', 'INVALID_CLIENT', 'BAD_REQUEST', 'PASSWORD', 'INTERNAL_SERVER_ERROR'],
    output: noExtra,
    call: (i, ctx) => token(i, ctx),
  }),
  endpoint({
    path: 'auth/introspection',
    summary: 'Validate an access token presented to a resource server',
    description:
      'OK: serve the request; subject, scopes, clientId … say for whom. UNAUTHORIZED, FORBIDDEN, BAD_REQUEST: reply with status and a WWW-Authenticate header whose value is responseContent (RFC 6750 §3). ' +
      'INTERNAL_SERVER_ERROR: reply 500.',
    input: z
      .object({
        token: z.string().describe('The access token the client presented.'),
        scopes: strings.describe('Scopes the resource requires; all must have been granted. [] for none.'),
        subject: z.string().optional().describe('When given, the token must belong to this subject.'),
        ...proof,
      })
      .strict()
      .superRefine(proofFields),
    actions: ['OK', 'BAD_REQUEST', 'UNAUTHORIZED', 'FORBIDDEN', 'INTERNAL_SERVER_ERROR'],
    output: z.object({
      subject: z.string().optional().describe('Absent for a token the client obtained for itself (client_credentials).'),
      clientId: z.string().optional(),
      scopes: strings.optional(),
      expiresAt: z.number().int().optional(),
      issuedAt: z.number().int().optional(),
      audience: strings.optional(),
      tokenType: z.enum(['Bearer', 'DPoP']).optional(),
      authTime: z.number().int().optional(),
      acr: z.string().optional(),
      claims: strings.optional().describe('The user claims the token\'s scopes release.'),
      cnf: z.record(z.string(), z.string()).optional().describe('The token\'s confirmation (RFC 7800), when sender-constrained.'),
    }),
    call: (i, ctx) => resourceIntrospection(i, ctx),
  }),
  endpoint({
    path: 'auth/introspection/standard',
    summary: 'RFC 7662 token introspection, for the caller\'s own introspection endpoint',
    description: 'Every action: reply to the client with status, headers and responseContent (JSON, or an RFC 9701 JWT when accept asked for one).',
    input: z
      .object({ parameters, contentType, ...clientAuth, accept: z.string().optional().describe('The Accept header (RFC 9701 §4).') })
      .strict()
      .superRefine(credentialFields),
    actions: ['OK', 'INVALID_CLIENT', 'BAD_REQUEST', 'INTERNAL_SERVER_ERROR'],
    output: noExtra,
    call: (i, ctx) => introspection(i, ctx),
  }),
  endpoint({
    path: 'auth/revocation',
    summary: 'RFC 7009 token revocation',
    description: 'Every action: reply to the client with status, headers and responseContent (empty for OK, RFC 7009 §2.2).',
    input: z.object({ parameters, contentType, ...clientAuth }).strict().superRefine(credentialFields),
    actions: ['OK', 'INVALID_CLIENT', 'BAD_REQUEST', 'INTERNAL_SERVER_ERROR'],
    output: noExtra,
    call: (i, ctx) => revocation(i, ctx),
  }),
  endpoint({
    path: 'auth/userinfo',
    summary: 'UserInfo step one: check the access token (OIDC Core §5.3)',
    description:
      'OK: gather the values of `claims` for `subject` and call auth/userinfo/issue. UNAUTHORIZED, FORBIDDEN, BAD_REQUEST: reply with status and a WWW-Authenticate header whose value is responseContent. ' +
      'INTERNAL_SERVER_ERROR: reply 500.',
    input: z.object({ token: z.string().describe('The access token the client presented.'), ...proof }).strict().superRefine(proofFields),
    actions: ['OK', 'BAD_REQUEST', 'UNAUTHORIZED', 'FORBIDDEN', 'INTERNAL_SERVER_ERROR'],
    output: z.object({
      subject: z.string().optional(),
      scopes: strings.optional(),
      clientId: z.string().optional(),
      claims: strings.optional().describe('Names of the claims to gather.'),
    }),
    call: (i, ctx) => userinfoRequest(i, ctx),
  }),
  endpoint({
    path: 'auth/userinfo/issue',
    summary: 'UserInfo step two: the response from the caller\'s claims',
    description: 'OK: reply 200 with responseContent (JSON). UNAUTHORIZED, FORBIDDEN: as for auth/userinfo. INTERNAL_SERVER_ERROR: reply 500.',
    input: z
      .object({
        token: z.string(),
        claims: z.record(z.string(), z.unknown()).describe('The user\'s claims (OIDC Core §5.1 names); those the token\'s scopes release are sent. sub is always the token\'s.'),
      })
      .strict(),
    actions: ['OK', 'BAD_REQUEST', 'UNAUTHORIZED', 'FORBIDDEN', 'INTERNAL_SERVER_ERROR'],
    output: noExtra,
    call: (i, ctx) => userinfoIssue(i, ctx),
  }),
  endpoint({
    path: 'service/configuration',
    summary: 'The service\'s OpenID Provider metadata (OIDC Discovery §3, RFC 8414)',
    description: 'OK: responseContent is the discovery document, endpoints under the service\'s issuer; serve it (with your endpoint URLs) at /.well-known/openid-configuration.',
    input: z.object({}).strict(),
    actions: ['OK'],
    output: noExtra,
    get: true,
    call: (i, ctx) => serviceConfiguration(i, ctx),
  }),
  endpoint({
    path: 'service/jwks/get',
    summary: 'The service\'s JWK Set (RFC 7517)',
    description: 'OK: responseContent is the JWK Set; serve it at the jwks_uri of your discovery document.',
    input: z.object({}).strict(),
    actions: ['OK', 'INTERNAL_SERVER_ERROR'],
    output: noExtra,
    get: true,
    call: (i, ctx) => serviceJwks(i, ctx),
  }),
];
