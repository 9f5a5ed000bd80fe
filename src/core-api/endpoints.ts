import { z } from 'zod';
import { authorization, authorizationFail, authorizationIssue, FAIL_REASONS, type FailReason } from '../engine/authorization/index.js';
import type { EngineContext } from '../engine/context.js';
import { authorizationConsent } from '../engine/authorization/consent-step.js';
import { deviceAuthorization, deviceComplete, deviceVerification } from '../engine/device.js';
import { backchannelAuthentication, cibaComplete } from '../engine/ciba.js';
import { introspection } from '../engine/introspection.js';
import { pushedAuthorizationRequest } from '../engine/par.js';
import { registration, registrationManagement } from '../engine/registration.js';
import { serviceConfiguration, serviceJwks } from '../engine/metadata.js';
import { resourceIntrospection } from '../engine/resource-introspection.js';
import type { Result } from '../engine/result.js';
import { revocation } from '../engine/revocation.js';
import { PASSWORD_FAIL_REASONS, type PasswordFailReason, token, tokenFail, tokenIssue } from '../engine/token/index.js';
import { userinfoIssue, userinfoRequest } from '../engine/userinfo.js';

/*
 * The Core API: the protocol engine as a JSON service. One row per endpoint: the path under /api/{serviceId}/,
 * the request schema (checked at the edge, camelCase fields), the actions the engine can answer with, the extra
 * fields of the answer (documentation), and the engine function the built-in endpoint calls too. No protocol
 * rule lives here: a row only renames fields into the engine's input. Every endpoint of the issue's list has its
 * row; a new engine endpoint becomes a new row (and a section in docs/core-api.md), nothing else.
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
const scheme = z
  .enum(['Bearer', 'DPoP'])
  .optional()
  .describe('The scheme of the Authorization header the token came in (RFC 6750 §2.1, RFC 9449 §7.1), normalised to this case. Pass it: a DPoP-bound token presented as Bearer is then refused even with a proof (RFC 9449 §7.2), an unbound one presented as DPoP too. When absent, a dpop proof means DPoP.');
const userCode = z.string().min(1).max(64).describe('The user code as the user entered it; case, hyphens and spaces do not matter (RFC 8628 §6.1).');
const registrationBody = z.string().describe('The request body exactly as received: the client metadata as a JSON document (RFC 7591 §3.1), not parsed.');
const registrationContentType = z.string().optional().describe('The Content-Type the request came with; anything but application/json is invalid_request. Absent: application/json.');
const registrationAuthorization = z.string().optional().describe('The Authorization header as received (Bearer and the registration access token, RFC 7592 §3).');
const registeredClientId = z.string().min(1).max(255).describe('The client_id from the path of your registration_client_uri.');

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
      'INTERACTION: sign the user in as `prompt`, `maxAge`, `loginHint` ask, ask for consent when `consentRequired` (pass your signed-in user as `subject` to have their earlier consent counted), ' +
      'then call auth/authorization/issue (with consentGiven: true once the user consented) or /fail with the ticket. ' +
      'NO_INTERACTION (prompt=none): do not show a page; issue if the user is signed in and has consented, else fail with LOGIN_REQUIRED or CONSENT_REQUIRED. ' +
      'LOCATION: redirect the user agent to responseContent. FORM: send responseContent as an HTML page. ' +
      'BAD_REQUEST: show the user an error page (responseContent is the JSON error); never redirect. INTERNAL_SERVER_ERROR: show a 500 page.',
    input: z
      .object({
        parameters,
        subject: z.string().min(1).max(255).optional().describe('Your signed-in user\'s id (the subject for auth/authorization/issue), if any: consentRequired then counts the consent they gave this client.'),
      })
      .strict(),
    actions: ['INTERACTION', 'NO_INTERACTION', 'LOCATION', 'FORM', 'BAD_REQUEST', 'INTERNAL_SERVER_ERROR'],
    output: z.object({
      ticket: z.string().optional().describe('With INTERACTION / NO_INTERACTION: pass it to auth/authorization/issue or /fail.'),
      client: clientView.optional(),
      scopes: strings.optional().describe('The scopes to consent to (those the client may have).'),
      prompt: strings.optional(),
      maxAge: z.number().int().optional().describe('Seconds: a sign-in older than this needs a new one.'),
      loginHint: z.string().optional(),
      idTokenHintSub: z.string().optional().describe('The sub of a valid id_token_hint: the user the client expects, as the client knows them (for a pairwise client, not your user id: see expectedSubject).'),
      acrs: strings.optional().describe('Requested acr_values, in order of preference.'),
      uiLocales: strings.optional(),
      resources: strings.optional().describe('RFC 8707: the resource servers the client asks access to.'),
      authorizationDetails: z
        .array(z.record(z.string(), z.unknown()))
        .optional()
        .describe('RFC 9396: the authorization details the client asks for (each with its type; other fields as the client sent them). Show them to the user; pass the approved ones to auth/authorization/issue as authorizationDetails. A request with them needs consent (consentRequired), a remembered consent does not cover them.'),
      expectedSubject: z.string().optional().describe('Your user id (the subject for auth/authorization/issue) that id_token_hint or a claims sub value names: sign that user in. For a pairwise client it is found through the hint\'s sid; absent when nobody is named or it cannot be found (issue then still refuses another user with login_required).'),
      consentRequired: z
        .boolean()
        .optional()
        .describe(
          'With INTERACTION / NO_INTERACTION: ask the user for consent (with NO_INTERACTION: fail with CONSENT_REQUIRED). False for a client registered with skip_consent; ' +
            'true with prompt=consent; otherwise true unless the consent `subject` gave this client covers the scopes and claims asked for (without subject: as for a user who gave none).',
        ),
    }),
    call: (i, ctx) => authorization({ parameters: i.parameters, subject: i.subject }, ctx),
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
        consentGiven: z
          .boolean()
          .optional()
          .describe('true: you asked the user and they consented; Latchkey records the consent for the granted scopes, so auth/authorization reports consentRequired false for this user next time.'),
        authorizationDetails: z
          .array(z.record(z.string(), z.unknown()))
          .max(20)
          .optional()
          .describe('RFC 9396: the authorization details the user approved, each exactly one of those auth/authorization returned (compared by deep equality; anything else is refused with BAD_REQUEST, LK7353, and the ticket stays usable); [] approves none. Absent: all requested.'),
      })
      .strict(),
    actions: ['LOCATION', 'FORM', 'BAD_REQUEST', 'INTERNAL_SERVER_ERROR'],
    output: z.object({
      consentGranted: z
        .object({ clientId: z.string(), subject: z.string(), scope: strings })
        .optional()
        .describe('With LOCATION / FORM when consentGiven was true: the consent recorded (the granted scopes, and claim:<name> for claims asked for by name); it is also written to the audit trail as consent.granted.'),
    }),
    call: (i, ctx) => authorizationIssue(i, ctx),
  }),
  endpoint({
    path: 'auth/authorization/consent',
    summary: 'Whether a user who signed in after the request arrived must be asked for consent (OIDC Core §3.1.2.4)',
    description:
      'OK: consentRequired says whether to show your consent page before auth/authorization/issue (then pass consentGiven: true); the ticket stays usable. ' +
      'BAD_REQUEST: the ticket is unknown, expired or used. INTERNAL_SERVER_ERROR: show a 500 page.',
    input: z
      .object({
        ticket: z.string().min(1),
        subject: z.string().min(1).max(255).describe('Your user\'s id (the subject for auth/authorization/issue).'),
      })
      .strict(),
    actions: ['OK', 'BAD_REQUEST', 'INTERNAL_SERVER_ERROR'],
    output: z.object({
      consentRequired: z.boolean().optional().describe('With OK: false for a skip_consent client; true with prompt=consent; otherwise true unless the user\'s consent to this client covers the scopes and claims asked for.'),
    }),
    call: (i, ctx) => authorizationConsent(i, ctx),
  }),
  endpoint({
    path: 'auth/authorization/fail',
    summary: 'Finish an authorization request with an error for the client',
    description:
      'LOCATION: redirect the user agent to responseContent (the error goes to the client). BAD_REQUEST: the ticket is unknown, expired or used, ' +
      'or (LK7471, RFC 9700 §4.11.2) a prompt=none failure of an openly registered client whose redirect_uri is not trusted: show an error page, never redirect. ' +
      'INTERNAL_SERVER_ERROR: show a 500 page.',
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
      'PASSWORD (resource owner password grant, RFC 6749 §4.3, for clients that opted in): verify username and password your way ' +
      '(with brute-force limits), then call auth/token/issue with the ticket and the user\'s subject, or auth/token/fail.',
    input: z.object({ parameters, contentType, ...clientAuth, ...proof }).strict().superRefine(credentialFields).superRefine(proofFields),
    actions: ['OK', 'INVALID_CLIENT', 'BAD_REQUEST', 'PASSWORD', 'INTERNAL_SERVER_ERROR'],
    output: z.object({
      ticket: z.string().optional().describe('With PASSWORD: pass it to auth/token/issue or /fail (single use, 120 seconds).'),
      username: z.string().optional().describe('With PASSWORD: the username as sent.'),
      password: z.string().optional().describe('With PASSWORD: the password as sent; Latchkey never stores it.'),
      clientId: z.string().optional(),
      scopes: strings.optional().describe('With PASSWORD: the scopes the tokens will carry.'),
      resources: strings.optional().describe('With PASSWORD: the resource servers named (RFC 8707).'),
    }),
    call: (i, ctx) => token(i, ctx),
  }),
  endpoint({
    path: 'auth/token/issue',
    summary: 'Finish a password grant: the credentials are right (RFC 6749 §4.3.3)',
    description:
      'OK: reply to the client with status, headers and responseContent (the token response). ' +
      'BAD_REQUEST: the ticket is unknown, expired or used (invalid_grant for the client). INTERNAL_SERVER_ERROR: reply 500.',
    input: z
      .object({
        ticket: z.string().min(1),
        subject: z.string().min(1).max(255).describe('The resource owner\'s stable identifier: the sub of the tokens.'),
        authTime: z.number().int().nonnegative().optional().describe('When the credentials were verified, epoch seconds; now when absent.'),
        acr: z.string().optional().describe('The ID token\'s acr; the service\'s defaultAcr (a password sign-in) when absent.'),
        amr: strings.optional().describe('RFC 8176 methods; ["pwd"] when absent.'),
      })
      .strict(),
    actions: ['OK', 'BAD_REQUEST', 'INTERNAL_SERVER_ERROR'],
    output: noExtra,
    call: (i, ctx) => tokenIssue(i, ctx),
  }),
  endpoint({
    path: 'auth/token/fail',
    summary: 'Finish a password grant with an error for the client',
    description:
      'BAD_REQUEST: reply to the client with status, headers and responseContent (invalid_grant; with RATE_LIMITED a Retry-After header). ' +
      'INTERNAL_SERVER_ERROR (reason SERVER_ERROR): reply 500 with the server_error body.',
    input: z
      .object({
        ticket: z.string().min(1),
        reason: z.enum(Object.keys(PASSWORD_FAIL_REASONS) as [PasswordFailReason, ...PasswordFailReason[]]),
        retryAfter: z.number().int().positive().optional().describe('With RATE_LIMITED: seconds until the client may try again.'),
      })
      .strict(),
    actions: ['BAD_REQUEST', 'INTERNAL_SERVER_ERROR'],
    output: noExtra,
    call: (i, ctx) => tokenFail(i, ctx),
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
        scheme,
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
      act: z.record(z.string(), z.unknown()).optional().describe('RFC 8693 §4.1: the acting party of a token obtained by delegation (token exchange), as in the JWT and RFC 7662 answers.'),
      mayAct: z.record(z.string(), z.unknown()).optional().describe('RFC 8693 §4.4: the party that may act for the subject (the client\'s access_token_may_act).'),
      authorizationDetails: z.array(z.record(z.string(), z.unknown())).optional().describe('RFC 9396 §9.2: the authorization details the token carries (each with its type).'),
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
    input: z.object({ token: z.string().describe('The access token the client presented.'), scheme, ...proof }).strict().superRefine(proofFields),
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
    path: 'device/authorization',
    summary: 'The device authorization endpoint (RFC 8628 §3.1)',
    description:
      'OK: reply with status 200 and responseContent (device_code, user_code, verification_uri under the service\'s issuer, expires_in, interval); ' +
      'serve the verification page at verification_uri and use device/verification and device/complete there. ' +
      'UNAUTHORIZED (client authentication failed), BAD_REQUEST, INTERNAL_SERVER_ERROR: reply with status, headers and responseContent. ' +
      'The device then polls auth/token with the device_code grant.',
    input: z.object({ parameters, contentType, ...clientAuth, clientCertificate: proof.clientCertificate }).strict().superRefine(credentialFields),
    actions: ['OK', 'BAD_REQUEST', 'UNAUTHORIZED', 'INTERNAL_SERVER_ERROR'],
    output: noExtra,
    call: (i, ctx) => deviceAuthorization(i, ctx),
  }),
  endpoint({
    path: 'device/verification',
    summary: 'Look up the user code a signed-in user entered on the verification page (RFC 8628 §3.3)',
    description:
      'VALID: show the user who asks (client) and for what (scopes), and ask them to approve or deny; then call device/complete. ' +
      'NOT_EXIST, EXPIRED: tell the user the code is wrong or expired, and count the failure against the user and address: ' +
      'user codes are short, so failed entries must be rate-limited (RFC 8628 §5.1). INTERNAL_SERVER_ERROR: show a 500 page.',
    input: z.object({ userCode }).strict(),
    actions: ['VALID', 'NOT_EXIST', 'EXPIRED', 'INTERNAL_SERVER_ERROR'],
    output: z.object({
      client: clientView.optional().describe('With VALID: the client that asks.'),
      scopes: strings.optional().describe('With VALID: the scopes it asks for.'),
      authorizationDetails: z.array(z.record(z.string(), z.unknown())).optional().describe('With VALID: RFC 9396, the authorization details it asks for (show them; pass the approved ones to device/complete).'),
      expiresAt: z.number().int().optional().describe('With VALID: when the user code expires, epoch seconds.'),
    }),
    call: (i, ctx) => deviceVerification(i, ctx),
  }),
  endpoint({
    path: 'device/complete',
    summary: 'Record the user\'s decision on a device authorization (RFC 8628 §3.3)',
    description:
      'SUCCESS: tell the user they may return to their device; its next poll of auth/token gets the tokens (AUTHORIZED) or access_denied (ACCESS_DENIED). ' +
      'USER_CODE_NOT_EXIST (unknown or already decided), USER_CODE_EXPIRED: tell the user to start again on the device. INTERNAL_SERVER_ERROR: show a 500 page. ' +
      'Call it only for the code this user entered and device/verification found VALID on your page (keep it server-side, or bind your confirm form to it): ' +
      'a confirm step that takes any code is a way around the limit on wrong codes (RFC 8628 §5.1).',
    input: z
      .object({
        userCode,
        result: z.enum(['AUTHORIZED', 'ACCESS_DENIED']).describe('The user\'s decision.'),
        subject: z.string().min(1).max(255).optional().describe('Required with AUTHORIZED: the user\'s stable identifier, the sub of the tokens.'),
        authTime: z.number().int().nonnegative().optional().describe('When the user authenticated, epoch seconds; now when absent.'),
        acr: z.string().optional(),
        amr: strings.optional(),
        sid: z.string().max(255).optional().describe('The caller\'s session id for the ID token\'s sid.'),
        scopes: strings.optional().describe('The scopes the user approved; narrows the request\'s, never widens it.'),
        authorizationDetails: z
          .array(z.record(z.string(), z.unknown()))
          .max(20)
          .optional()
          .describe('RFC 9396: the authorization details the user approved, each exactly one of those device/verification returned (deep equality; anything else is INVALID_REQUEST, LK7353, and the code stays pending); [] approves none. Absent: all.'),
      })
      .strict()
      .superRefine((v, c) => {
        if (v.result === 'AUTHORIZED' && v.subject === undefined) c.addIssue({ code: 'custom', path: ['subject'], message: 'required with AUTHORIZED' });
      }),
    actions: ['SUCCESS', 'USER_CODE_NOT_EXIST', 'USER_CODE_EXPIRED', 'INVALID_REQUEST', 'INTERNAL_SERVER_ERROR'],
    output: noExtra,
    call: (i, ctx) => deviceComplete(i, ctx),
  }),
  endpoint({
    path: 'backchannel/authentication',
    summary: 'The CIBA backchannel authentication endpoint (OpenID CIBA Core §7)',
    description:
      'OK: reply with status 200 and responseContent (auth_req_id, expires_in, interval). The user is asked on the service\'s /ciba page, and the ' +
      'request is announced at its cibaNotifyUrl (with the ticket for backchannel/complete). UNAUTHORIZED (client authentication failed), BAD_REQUEST ' +
      '(CIBA Core §13: invalid_request, invalid_scope, unknown_user_id, invalid_binding_message, unauthorized_client), FORBIDDEN (access_denied: too many ' +
      'requests of the client wait for the user), INTERNAL_SERVER_ERROR: reply ' +
      'with status, headers and responseContent. The client then polls auth/token with the urn:openid:params:grant-type:ciba grant.',
    input: z.object({ parameters, contentType, ...clientAuth, clientCertificate: proof.clientCertificate }).strict().superRefine(credentialFields),
    actions: ['OK', 'BAD_REQUEST', 'UNAUTHORIZED', 'FORBIDDEN', 'INTERNAL_SERVER_ERROR'],
    output: noExtra,
    call: (i, ctx) => backchannelAuthentication(i, ctx),
  }),
  endpoint({
    path: 'backchannel/complete',
    summary: 'Record the user\'s decision on a CIBA request (OpenID CIBA Core §8)',
    description:
      'For an application that is the users\' authentication device: it was sent the request (cibaNotifyUrl, a signed JWT with a ticket), asked ' +
      'the user it names, and reports what they decided. SUCCESS: the client\'s next poll gets the tokens (AUTHORIZED) or access_denied (ACCESS_DENIED), ' +
      'and a ping-mode client is notified. NOT_EXIST (unknown ticket, already decided, or subject is not the request\'s user), EXPIRED, ' +
      'INVALID_REQUEST, INTERNAL_SERVER_ERROR: nothing was recorded.',
    input: z
      .object({
        ticket: z.string().min(1).max(200).describe('The ticket of the request\'s announcement.'),
        result: z.enum(['AUTHORIZED', 'ACCESS_DENIED']).describe('The user\'s decision.'),
        subject: z.string().min(1).max(255).optional().describe('The user who decided; when given it must be the user the request names.'),
        authTime: z.number().int().nonnegative().optional().describe('When the user authenticated, epoch seconds; now when absent.'),
        acr: z.string().optional(),
        amr: strings.optional(),
        scopes: strings.optional().describe('The scopes the user approved; narrows the request\'s, never widens it.'),
        authorizationDetails: z
          .array(z.record(z.string(), z.unknown()))
          .max(20)
          .optional()
          .describe('RFC 9396: the authorization details the user approved, each exactly one of those announced (deep equality; anything else is INVALID_REQUEST, LK7353, and the request stays pending); [] approves none. Absent: all.'),
      })
      .strict(),
    actions: ['SUCCESS', 'NOT_EXIST', 'EXPIRED', 'INVALID_REQUEST', 'INTERNAL_SERVER_ERROR'],
    output: noExtra,
    call: (i, ctx) => cibaComplete(i, ctx),
  }),
  endpoint({
    path: 'pushed_auth_req',
    summary: 'The pushed authorization request endpoint (RFC 9126 §2)',
    description:
      'CREATED: reply 201 with responseContent (request_uri, expires_in); the client then sends the user to your authorization endpoint with ' +
      'client_id and request_uri, which auth/authorization resolves. UNAUTHORIZED (client authentication failed), BAD_REQUEST (the request would ' +
      'be refused at the authorization endpoint: RFC 9126 §2.3), INTERNAL_SERVER_ERROR: reply with status, headers and responseContent.',
    input: z.object({ parameters, contentType, ...clientAuth, ...proof }).strict().superRefine(credentialFields).superRefine(proofFields),
    actions: ['CREATED', 'BAD_REQUEST', 'UNAUTHORIZED', 'INTERNAL_SERVER_ERROR'],
    output: noExtra,
    call: (i, ctx) => pushedAuthorizationRequest(i, ctx),
  }),
  endpoint({
    path: 'client/registration',
    summary: 'Dynamic client registration (RFC 7591 §3)',
    description:
      'CREATED: reply 201 with responseContent (the client\'s metadata, client_id, client_secret when its method needs one, registration_access_token ' +
      'and registration_client_uri under the service\'s issuer: serve client/registration/get, /update and /delete there). ' +
      'BAD_REQUEST (invalid_client_metadata, invalid_redirect_uri, …), UNAUTHORIZED (registration needs an initial access token and none valid ' +
      'came), FORBIDDEN (registration is off on this server), INTERNAL_SERVER_ERROR: reply with status, headers and responseContent.',
    input: z.object({ body: registrationBody, contentType: registrationContentType, authorization: z.string().optional().describe('The Authorization header as received (Bearer and an initial access token, when registration needs one).') }).strict(),
    actions: ['CREATED', 'BAD_REQUEST', 'UNAUTHORIZED', 'FORBIDDEN', 'INTERNAL_SERVER_ERROR'],
    output: z.object({ clientId: z.string().optional().describe('With CREATED: the client_id just registered (as in responseContent).') }),
    call: (i, ctx) => registration({ ...i, contentType: i.contentType ?? 'application/json' }, ctx),
  }),
  endpoint({
    path: 'client/registration/get',
    summary: 'Read a registered client\'s configuration (RFC 7592 §2.1): a GET of its registration_client_uri',
    description:
      'OK: reply 200 with responseContent (the client\'s metadata). UNAUTHORIZED (unknown client or wrong registration access token, told apart ' +
      'only in resultMessage: RFC 7592 §2.1), FORBIDDEN (registration is off), BAD_REQUEST (status 429: too many requests for this client), ' +
      'INTERNAL_SERVER_ERROR: reply with status, headers and responseContent.',
    input: z.object({ clientId: registeredClientId, authorization: registrationAuthorization }).strict(),
    actions: ['OK', 'BAD_REQUEST', 'UNAUTHORIZED', 'FORBIDDEN', 'INTERNAL_SERVER_ERROR'],
    output: noExtra,
    call: (i, ctx) => registrationManagement({ ...i, method: 'GET' }, ctx),
  }),
  endpoint({
    path: 'client/registration/update',
    summary: 'Replace a registered client\'s metadata (RFC 7592 §2.2): a PUT to its registration_client_uri',
    description:
      'OK: reply 200 with responseContent (the metadata now registered, with a new registration_access_token: the old one stops working). ' +
      'BAD_REQUEST (invalid metadata, a client_id that differs, server-issued fields sent back; status 429 when rate-limited; status 409 when the ' +
      'server changed the client twice while the update was built, nothing written: the client may resend), UNAUTHORIZED, FORBIDDEN, ' +
      'INTERNAL_SERVER_ERROR: reply with status, headers and responseContent.',
    input: z.object({ clientId: registeredClientId, body: registrationBody, contentType: registrationContentType, authorization: registrationAuthorization }).strict(),
    actions: ['OK', 'BAD_REQUEST', 'UNAUTHORIZED', 'FORBIDDEN', 'INTERNAL_SERVER_ERROR'],
    output: noExtra,
    call: (i, ctx) => registrationManagement({ ...i, contentType: i.contentType ?? 'application/json', method: 'PUT' }, ctx),
  }),
  endpoint({
    path: 'client/registration/delete',
    summary: 'Delete a registered client (RFC 7592 §2.3): a DELETE of its registration_client_uri',
    description:
      'DELETED: reply 204 with no body; the client\'s grants and tokens are revoked with it, its users\' consents and pending requests deleted. UNAUTHORIZED, FORBIDDEN, BAD_REQUEST (status 429: ' +
      'rate-limited), INTERNAL_SERVER_ERROR: reply with status, headers and responseContent.',
    input: z.object({ clientId: registeredClientId, authorization: registrationAuthorization }).strict(),
    actions: ['DELETED', 'BAD_REQUEST', 'UNAUTHORIZED', 'FORBIDDEN', 'INTERNAL_SERVER_ERROR'],
    output: noExtra,
    call: (i, ctx) => registrationManagement({ ...i, method: 'DELETE' }, ctx),
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
