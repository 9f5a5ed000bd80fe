import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  authorization,
  authorizationFail,
  authorizationIssue,
  authorizationIssuePending,
  authorizationFailPending,
  loadTicket,
  type AuthorizationResult,
  type LoadedTicket,
} from '../../engine/authorization/index.js';
import { requestedClaimNames } from '../../engine/claims.js';
import type { EngineContext } from '../../engine/context.js';
import { nowSeconds } from '../../engine/context.js';
import { deviceComplete, deviceVerification, formatUserCode, normalizeUserCode, type DeviceVerificationResult } from '../../engine/device.js';
import { cibaComplete, pendingCibaRequests } from '../../engine/ciba.js';
import { acceptSecondFactor, confirmOtp, MFA_ACR, MFA_CHANGE_FRESHNESS, MFA_AMR, KEY_AMR, newRecoveryCodes, otpRequired, otpSetup, recoveryCodesLeft, removeOtp } from '../../services/mfa.js';
import { findAccount } from '../../engine/accounts.js';
import { cspSourceOf, FORM_POST_SCRIPT } from '../../engine/authorization/response.js';
import type { Latchkey } from '../../server/latchkey.js';
import { endBrowserSession, newUserRecord, storeNewUser, UserInputError } from '../../services/users.js';
import { ServiceError } from '../../services/errors.js';
import { verifyCredentials } from '../../services/accounts.js';
import type { Account } from '../../engine/accounts.js';
import type { SessionRecord, UserRecord } from '../../store/types.js';
import { DEFAULT_TENANT } from '../../store/types.js';
import {
  cibaPage, consentPage, createAccountPage, mfaPage, otpPage, demoCallbackPage, deviceCodePage, deviceConfirmPage, errorPage, loginPage, logoutConfirmPage, messagePage,
  signedOutPage, STYLESHEET, resubmitPage, type CreateAccountPageModel,
} from '../../ui/html.js';
import { endSessionRequest, logoutTiedToSession, type LogoutOutcome } from '../../engine/logout.js';
import { consentScopes, decide } from '../../ui/interaction.js';
import { prefersAcr } from '../../engine/claims.js';
import { auditConsent, auditIssuedConsent, type AuditEventInput, type AuditLog } from '../../audit/audit.js';
import {
  beginLoginAttempt, beginOtpAttempt, beginRegistrationAttempt, beginUserCodeAttempt, KNOWN_DEVICE_TTL, knownDeviceCookie, knownDeviceOf, loginSucceeded, otpAccepted, retryAfter, userCodeAccepted,
} from '../../services/rate-limit.js';
import { readSession, SESSION_COOKIE, signIn } from '../../ui/session.js';
import { newHandle } from '../../tokens/handles.js';
import { pageHeaders } from '../page-headers.js';
import { subjectFor } from '../../engine/subject.js';
import { accountPage, clientBranding, WEBAUTHN_SCRIPT, type AccountPageModel } from '../../ui/html.js';
import { acceptWebauthn, addWebauthnKey, creationOptions, keyName, MAX_WEBAUTHN_KEYS, removeWebauthnKey, requestOptions, webauthnChallenge, webauthnKeys, webauthnUsable } from '../../services/webauthn.js';
import { describeBrowser } from '../../ui/device.js';
import { appsWithAccess, changePassword, PROFILE_CLAIMS, removeAppAccess, sessionsOf, signOutOtherSessions, signOutSession, updateProfile, type ProfileClaim } from '../../services/account.js';
import { sendResult } from '../adapt.js';
import { parseCookies, serializeCookie } from '../cookies.js';
import { cookiePath, fixedContext, pagesOf, type ContextOf } from '../tenant.js';

/** Security headers for every HTML page (RFC 9700 §4.16 clickjacking; no referrer leaks of codes or tickets). */
function htmlHeaders(reply: FastifyReply, formTargets: string[] = [], extra: { frames?: string[]; scriptNonce?: string } = {}): FastifyReply {
  return reply.headers(pageHeaders(formTargets, extra)).type('text/html; charset=utf-8');
}

/** A page's form or frame target as a CSP source (engine: cspSourceOf); '' (no source) for an unparseable URI. */
const origin = (uri: string): string => cspSourceOf(uri) ?? '';

function rawQuery(req: FastifyRequest): string {
  const i = req.raw.url?.indexOf('?') ?? -1;
  return i >= 0 ? req.raw.url!.slice(i + 1) : '';
}

/** The routes here whose raw parameters the engine parses and judges (the UI's own NUL check leaves them alone). */
const ENGINE_PARAMETER_ROUTES = ['/oauth/authorize', '/oauth/logout'];

/** The built-in login/consent UI: one caller of the engine's two-step authorization, like any Core API caller. */
export interface UiOptions {
  /**
   * An embedding application's own sign-in and consent page (createLatchkey's interactionUrl): the authorization
   * endpoint sends the user there with `?ticket=…` instead of to the built-in pages, and the application finishes
   * with authorizationIssue / authorizationFail, exactly as a Core API caller does.
   */
  interactionUrl?: string;
}

export async function registerUiRoutes(app: FastifyInstance, lk: Latchkey, contextOf?: ContextOf, opts: UiOptions = {}): Promise<void> {
  // The default tenant's context once, or (under /t/:service) the request's tenant. Page URLs and cookie paths come
  // from the tenant's issuer (pagesOf), never from the request; cookie names are the tenant's own.
  const fixed = contextOf ? undefined : await lk.context(DEFAULT_TENANT);
  const ctxOf = contextOf ?? fixedContext(fixed!);
  const ixPath = (ctx: EngineContext, ticket: string) => `${pagesOf(ctx).base}/interaction/${ticket}`;
  /**
   * OWASP Session Management (cookie prefixes), RFC 6265bis §4.1.3: over https every cookie the pages set is `__Host-`
   * (Secure, Path=/, no Domain): no sibling subdomain can set or overwrite it, as a tossed cookie would be. A `__Secure-`
   * cookie is no such guard (§4.1.3.1 asks only for Secure: a sibling sets one with Domain=the parent), so cookies are
   * host-wide over https, kept apart by name (each tenant's carry its id). Over http (no prefixes) a cookie is scoped to
   * the issuer's path, or `sub` below it. The session, the sign-in binding and the device-page CSRF cookie.
   */
  const hostCookie = (ctx: EngineContext, plain: string, sub = ''): { name: string; path: string } => {
    const p = pagesOf(ctx);
    return p.secure ? { name: `__Host-${p.cookie(plain)}`, path: '/' } : { name: p.cookie(plain), path: cookiePath(p, sub) };
  };
  /** The Set-Cookie attributes of a page cookie (hostCookie, bindCookie): its path, Secure over https, and Max-Age. */
  const cookieAttributes = (ctx: EngineContext, c: { path: string }, maxAge: number) => ({ path: c.path, secure: pagesOf(ctx).secure, maxAge });
  const sessionCookie = (ctx: EngineContext) => hostCookie(ctx, SESSION_COOKIE);
  /**
   * The session cookie's attributes: a page cookie's, with SameSite=None when the operator asked for it
   * (sessionCookieSameSite: a client's hidden iframe then finds the session, for prompt=none) and the pages are on
   * https (a SameSite=None cookie must be Secure). Every other cookie stays Lax.
   */
  const sessionAttributes = (ctx: EngineContext, maxAge: number) => ({
    ...cookieAttributes(ctx, sessionCookie(ctx), maxAge),
    sameSite: lk.config.sessionCookieSameSite === 'none' && pagesOf(ctx).secure ? ('None' as const) : ('Lax' as const),
  });
  /** The known-device cookie (services/rate-limit.ts): set at each password sign-in, read at the next. */
  const knownDeviceName = (ctx: EngineContext) => hostCookie(ctx, 'lk_known').name;
  const sessionName = (ctx: EngineContext) => sessionCookie(ctx).name;
  /**
   * The sign-in binding cookie. A binding cookie planted by a sibling subdomain would tie a victim's browser to the
   * planter's sign-in request, whose CSRF token the planter reads off his own page: a same-site POST of his password
   * then signs the victim's browser in as him (login CSRF). RFC 6265bis §4.1.3.1: a __Secure- cookie can be planted so
   * (Domain=the parent); only a __Host- one (no Domain, Path=/) cannot. So over https each sign-in has its own
   * host-wide __Host- cookie, named after its ticket; over http (no prefixes) it is scoped to /interaction/<ticket>.
   */
  const bindCookie = (ctx: EngineContext, ticket: string): { name: string; path: string } => {
    const p = pagesOf(ctx);
    if (!p.secure) return { name: p.cookie('lk_ix'), path: cookiePath(p, `/interaction/${ticket}`) };
    return { name: `__Host-${p.cookie('lk_ix')}_${lk.hasher.hash(`bind-name:${ticket}`).slice(0, 16)}`, path: '/' };
  };
  const binding = (ticket: string) => lk.hasher.hash(`bind:${ticket}`);
  /** OWASP Session Management: browser secrets are compared in constant time (Hasher.verify), never with !==. */
  const bindingOk = (ticket: string, presented: string | undefined) => lk.hasher.verify(`bind:${ticket}`, presented ?? '');
  // Where the pages (and their stylesheet) are served: the page template links it there (ui/html.ts layout).
  const pageBase = (reply: FastifyReply) => pagesOf(ctxOf(reply.request)).base;
  /**
   * A sign-in that ends (its ticket issued or failed) drops its binding cookie, rather than leaving it in the browser
   * until interactionTtl runs out (over https each sign-in has its own, so they would pile up).
   */
  const unbind = (reply: FastifyReply, ctx: EngineContext, ticket: string) => {
    const b = bindCookie(ctx, ticket);
    reply.header('Set-Cookie', serializeCookie(b.name, '', cookieAttributes(ctx, b, 0)));
  };
  const csrfFor = (ticket: string) => lk.hasher.hash(`csrf:${ticket}`);
  const csrfOk = (ticket: string, presented: string | null) => lk.hasher.verify(`csrf:${ticket}`, presented ?? '');
  /**
   * Logout confirmation tickets live in the ticket table under their own hash prefix (as the password grant's do), so
   * the authorization steps (the Core API's issue and fail) can never find one.
   */
  const logoutTicketHash = (ctx: EngineContext, ticket: string) => ctx.hasher.hash(`logout:${ticket}`);

  function sendEngineResult(reply: FastifyReply, r: AuthorizationResult, formTargets: string[] = []): FastifyReply {
    // form_post: the engine built the page and its headers (CSP allowing just the one script and the client's origin).
    if (r.action === 'LOCATION' || r.action === 'FORM') return sendResult(reply, r);
    reply.request.resultCode = r.resultCode;
    let message = 'The request could not be processed.';
    let code: string | undefined;
    try {
      const body = JSON.parse(r.responseContent) as { error?: string; error_description?: string };
      message = body.error_description ?? message;
      code = body.error;
    } catch {
      /* keep generic text */
    }
    const title = r.action === 'INTERNAL_SERVER_ERROR' ? 'Something went wrong' : 'Invalid request';
    // 503 (the database away, LK9501): the page says when to try again, as the engine's JSON answer does.
    const retryAfter = r.status === 503 ? r.headers?.['Retry-After'] : undefined;
    if (retryAfter !== undefined) reply.header('Retry-After', retryAfter);
    return htmlHeaders(reply.code(r.status >= 400 ? r.status : 400), formTargets).send(errorPage(pageBase(reply), title, message, code));
  }

  /** What to do for a request, given the browser's session and the user's consent (ui/interaction.ts decide). */
  async function decision(req: FastifyRequest, t: LoadedTicket, loggedInForTicket: boolean, mfaSetupDeclined = false) {
    const ctx = ctxOf(req);
    const live = await readSession(ctx, parseCookies(req.headers.cookie)[sessionName(ctx)]);
    const consent = live ? await ctx.store.findConsent(ctx.tenant.id, live.user.id, t.client.clientId) : undefined;
    const d = decide({
      request: t.request,
      client: t.client,
      loggedInForTicket,
      session: live?.session,
      user: live?.user,
      consent,
      now: nowSeconds(ctx),
      subjectOf: (sub) => subjectFor(ctx, t.client, sub),
      mfaAvailable: live !== undefined && prefersAcr(t.request, MFA_ACR) ? await otpRequired(ctx, live.user.id) : undefined,
      mfaSetupDeclined,
      passwordAcr: ctx.tenant.settings.defaultAcr,
    });
    return { d, live };
  }

  /** The issue step's input for the signed-in user of a live session. */
  const issueInput = (live: NonNullable<Awaited<ReturnType<typeof decision>>['live']>) => ({
    subject: live.user.id,
    authTime: live.session.authTime,
    acr: live.session.acr ?? undefined,
    amr: live.session.data.amr as string[] | undefined,
    sid: live.session.sid,
    latchkeySession: true,
  });

  /**
   * Decide and act for a parked ticket: show login or consent, or finish through the engine.
   * NB: a FastifyReply is a thenable (it settles, with undefined, once the response finished): awaiting a promise
   * of one yields undefined, never the reply; a helper that must say whether it answered returns a plain value.
   */
  async function proceed(req: FastifyRequest, reply: FastifyReply, ticket: string, t: LoadedTicket): Promise<FastifyReply> {
    const ctx = ctxOf(req);
    const targets = [origin(t.request.redirectUri)];
    const tk = await ctx.store.findTicket(ctx.tenant.id, ctx.hasher.hash(ticket));
    const { d, live } = await decision(req, t, tk?.data.loggedIn === true, tk?.data.mfaSetupDeclined === true);
    const clientName = t.client.clientName ?? t.client.clientId;
    switch (d.kind) {
      case 'fail':
        unbind(reply, ctx, ticket);
        return sendEngineResult(reply, await authorizationFail({ ticket, reason: d.reason }, ctx), targets);
      case 'login':
        return htmlHeaders(reply, targets).send(
          loginPage(pageBase(reply), { action: `${ixPath(ctx, ticket)}/login`, csrf: csrfFor(ticket), clientName, username: t.request.loginHint, continueAs: d.continueAs, ...clientBranding(t.client) }),
        );
      case 'create':
        return htmlHeaders(reply, targets).send(createAccountPage(pageBase(reply), { action: `${ixPath(ctx, ticket)}/create`, csrf: csrfFor(ticket), clientName }));
      case 'consent':
        return htmlHeaders(reply, targets).send(
          consentPage(pageBase(reply), {
            action: `${ixPath(ctx, ticket)}/consent`,
            csrf: csrfFor(ticket),
            clientName,
            ...clientBranding(t.client),
            scopes: t.request.scope,
            claims: requestedClaimNames(t.request.claims),
            authorizationDetails: t.request.authorizationDetails, // RFC 9396
            username: live!.user.username,
          }),
        );
      case 'mfa-setup':
        return htmlHeaders(reply, targets).send(
          mfaPage(pageBase(reply), {
            action: `${ixPath(ctx, ticket)}/mfa`, csrf: csrfFor(ticket), username: live!.user.username, on: false,
            setup: await otpSetup(ctx, live!.user), enrol: { clientName, required: d.required },
          }),
        );
      case 'issue':
        return sendIssued(reply, ticket, await authorizationIssue({ ticket, ...issueInput(live!) }, ctx), targets);
    }
  }

  /**
   * The issue step's answer. The sign-in ends (its binding cookie dropped) unless the step failed inside the server:
   * then the ticket was given back if nothing was issued (authorizationIssue), and the same page, reloaded or sent
   * again, tries once more in this browser.
   */
  function sendIssued(reply: FastifyReply, ticket: string, r: AuthorizationResult, targets: string[]): FastifyReply {
    if (r.action !== 'INTERNAL_SERVER_ERROR') unbind(reply, ctxOf(reply.request), ticket);
    return sendEngineResult(reply, r, targets);
  }

  /**
   * What the audit trail keeps of a name typed into a sign-in form: an account's name as it is, anything else only as
   * a keyed hash (the same for the same name, so repeated attempts on one unknown name still group). A password typed
   * into the username field by mistake is the usual thing in there (OWASP Logging Cheat Sheet: never record
   * passwords), and the audit rows are kept for auditRetention and shown to operators.
   */
  function typedName(ctx: EngineContext, username: string, account: boolean): Record<string, string> {
    return account ? { username } : { username_hash: ctx.hasher.hash(`audit-username:${JSON.stringify([ctx.tenant.id, username.toLowerCase()])}`) };
  }

  /**
   * The password check behind every sign-in form (interaction, /device, /ciba, /mfa): rate limits per account and
   * address, the same answer and timing whether or not the account exists, a fresh session cookie on success. A user
   * with two-step sign-in on (services/mfa.ts) is then asked for a code on the same form's action (`form`: its
   * action, CSRF token, hidden fields and CSP form targets), and signed in only with a right one.
   * Returns the user, or undefined once it has answered (with `again`, or the code page).
   */
  async function passwordLogin(
    req: FastifyRequest,
    reply: FastifyReply,
    form: URLSearchParams,
    again: (status: number, error: string, username?: string, invalid?: ('username' | 'password')[]) => FastifyReply,
    page: { action: string; hidden?: Record<string, string>; targets?: string[] },
  ): Promise<Account | undefined> {
    const ctx = ctxOf(req);
    const csrf = form.get('csrf') ?? '';
    // With security keys (services/webauthn.ts), the page also offers them: the challenge is bound to this pending sign-in.
    const codePage = async (status: number, who: { userId: string; pending: string }, error?: string) => {
      const keys = await webauthnKeys(ctx, who.userId);
      const nonce = keys.length ? newHandle(ctx.random, 16) : undefined;
      const webauthn = nonce ? { nonce, options: requestOptions(ctx, webauthnChallenge(ctx, 'get', [who.userId, who.pending]), keys) } : undefined;
      return htmlHeaders(reply.code(status), page.targets, { scriptNonce: nonce }).send(otpPage(pageBase(reply), { action: page.action, csrf, hidden: page.hidden, pending: who.pending, error, webauthn }));
    };
    const pending = form.get('otp_pending');
    if (pending !== null) return secondStep(req, reply, form, again, codePage, pending);
    const username = (form.get('username') ?? '').slice(0, 100);
    const password = (form.get('password') ?? '').slice(0, 1024);
    if (!username || !password) {
      again(400, 'Enter your username and password.', username, [...(username ? [] : ['username' as const]), ...(password ? [] : ['password' as const])]);
      return undefined;
    }
    // OWASP device cookies (services/rate-limit.ts): a browser this user signed in on before is not held by the account's lockout.
    const device = knownDeviceOf(ctx, parseCookies(req.headers.cookie)[knownDeviceName(ctx)], username);
    if (await beginLoginAttempt(ctx, username, req.ip, device)) {
      const locked = await ctx.store.findUserByUsername(ctx.tenant.id, username);
      lk.audit.record({ tenantId: ctx.tenant.id, type: 'login.locked', subject: locked?.id ?? null, ip: req.ip, detail: typedName(ctx, username, locked !== undefined) });
      lk.metrics.loginRateLimited.inc();
      reply.header('Retry-After', String(retryAfter(ctx)));
      again(429, 'Too many failed sign-in attempts. Wait a few minutes and try again.', username);
      return undefined;
    }
    // The tenant's users (argon2id, same timing for unknown users), or an embedding application's accounts.
    const { account: user, knownSubject } = await verifyCredentials(ctx, username, password);
    if (!user) {
      lk.metrics.loginFailures.inc();
      req.log.info({ event: 'login_failure', tenant: ctx.tenant.id }, 'login failed');
      lk.audit.record({ tenantId: ctx.tenant.id, type: 'login.failure', subject: knownSubject ?? null, ip: req.ip, detail: typedName(ctx, username, knownSubject !== undefined) });
      // 400, not 401: RFC 9110 §15.5.2 makes a 401 carry a WWW-Authenticate challenge, and no HTTP scheme describes a form.
      again(400, 'Wrong username or password.', username, ['username', 'password']);
      return undefined;
    }
    await loginSucceeded(ctx, username, req.ip, device);
    if (await otpRequired(ctx, user.id)) {
      await codePage(200, { userId: user.id, pending: otpPendingOf(ctx, user.id, username, csrf, nowSeconds(ctx) + OTP_PENDING_TTL) });
      return undefined;
    }
    return signedIn(req, reply, user, username);
  }

  /** The sign-in's end, once every step passed: the session (amr and acr as the user authenticated), the known-device cookie. */
  async function signedIn(req: FastifyRequest, reply: FastifyReply, user: Account, username: string, mfa?: 'otp' | 'recovery' | 'webauthn'): Promise<Account> {
    const ctx = ctxOf(req);
    await startSession(req, reply, user.id, mfa ? { acr: MFA_ACR, amr: mfa === 'webauthn' ? KEY_AMR : MFA_AMR } : {});
    rememberDevice(reply, ctx, username);
    req.log.info({ event: 'login_success', tenant: ctx.tenant.id, sub: user.id }, 'login succeeded');
    lk.audit.record({ tenantId: ctx.tenant.id, type: 'login.success', subject: user.id, ip: req.ip, detail: { username, ...(mfa ? { mfa } : {}) } });
    return user;
  }

  /** The known-device cookie of a browser the user has signed in on (OWASP device cookies, services/rate-limit.ts). */
  function rememberDevice(reply: FastifyReply, ctx: EngineContext, username: string): void {
    const known = hostCookie(ctx, 'lk_known');
    reply.header('Set-Cookie', serializeCookie(known.name, knownDeviceCookie(ctx, username), cookieAttributes(ctx, known, KNOWN_DEVICE_TTL)));
  }

  /**
   * A sign-in past its password: `otp_pending` names the user (keyed hash over the tenant, the user, the username, the
   * form's CSRF token and an expiry, so it is good for this browser's form for OTP_PENDING_TTL only) and `otp` is the
   * code. Wrong codes are limited per user (beginOtpAttempt); a right one is accepted once (RFC 6238 §5.2). In place of
   * the code, `webauthn` may hold a security key's answer to the challenge of this pending sign-in (services/webauthn.ts),
   * under the same limit.
   */
  async function secondStep(
    req: FastifyRequest,
    reply: FastifyReply,
    form: URLSearchParams,
    again: (status: number, error: string) => FastifyReply,
    codePage: (status: number, who: { userId: string; pending: string }, error?: string) => Promise<FastifyReply>,
    pending: string,
  ): Promise<Account | undefined> {
    const ctx = ctxOf(req);
    const who = pendingSignIn(ctx, pending, form.get('csrf') ?? '');
    if (!who) {
      again(400, 'Your sign-in took too long. Sign in again.');
      return undefined;
    }
    // A known device of this user has its own allowance of wrong codes (rate-limit.ts otpKey), as for passwords.
    const device = knownDeviceOf(ctx, parseCookies(req.headers.cookie)[knownDeviceName(ctx)], who.username);
    if (await beginOtpAttempt(ctx, who.userId, device)) {
      lk.audit.record({ tenantId: ctx.tenant.id, type: 'login.locked', subject: who.userId, ip: req.ip, detail: { username: who.username, mfa: 'otp' } });
      reply.header('Retry-After', String(retryAfter(ctx)));
      await codePage(429, { userId: who.userId, pending }, 'Too many wrong codes. Wait a few minutes and try again.');
      return undefined;
    }
    const user = await findAccount(ctx, ctx.store, who.userId);
    const key = form.get('webauthn');
    const usable = user !== undefined && !user.disabled;
    const factor = key
      ? usable && (await acceptWebauthn(ctx, who.userId, key, webauthnChallenge(ctx, 'get', [who.userId, pending]), who.exp)) ? 'webauthn' as const : undefined
      : usable ? await acceptSecondFactor(ctx, who.userId, (form.get('otp') ?? '').slice(0, 20)) : undefined;
    if (!user || !factor) {
      lk.metrics.loginFailures.inc();
      lk.audit.record({ tenantId: ctx.tenant.id, type: 'login.failure', subject: who.userId, ip: req.ip, detail: { username: who.username, mfa: key ? 'webauthn' : 'otp' } });
      await codePage(400, { userId: who.userId, pending }, key
        ? 'Your security key was not accepted. Try again, or enter a code.'
        : 'That code is not right, or was used already. Enter the code your app shows now.');
      return undefined;
    }
    await otpAccepted(ctx, who.userId, device);
    return signedIn(req, reply, user, who.username, factor);
  }

  /** How long the code page waits for its code after the password, seconds. */
  const OTP_PENDING_TTL = 300;
  const pendingBinding = (ctx: EngineContext, userId: string, username: string, csrf: string, exp: number) =>
    `otp-pending:${JSON.stringify([ctx.tenant.id, userId, username, csrf, exp])}`;
  const otpPendingOf = (ctx: EngineContext, userId: string, username: string, csrf: string, exp: number) =>
    `${Buffer.from(JSON.stringify([userId, username, exp])).toString('base64url')}.${lk.hasher.hash(pendingBinding(ctx, userId, username, csrf, exp))}`;
  /** The user of a pending sign-in made for this form (csrf) and not expired; undefined otherwise. */
  function pendingSignIn(ctx: EngineContext, pending: string, csrf: string): { userId: string; username: string; exp: number } | undefined {
    const m = /^([A-Za-z0-9_-]{1,2000})\.([A-Za-z0-9_-]{43})$/.exec(pending);
    if (!m) return undefined;
    let v: unknown;
    try {
      v = JSON.parse(Buffer.from(m[1]!, 'base64url').toString('utf8'));
    } catch {
      return undefined;
    }
    if (!Array.isArray(v) || v.length !== 3 || typeof v[0] !== 'string' || typeof v[1] !== 'string' || typeof v[2] !== 'number') return undefined;
    const [userId, username, exp] = v as [string, string, number];
    if (exp <= nowSeconds(ctx) || !lk.hasher.verify(pendingBinding(ctx, userId, username, csrf, exp), m[2]!)) return undefined;
    return { userId, username, exp };
  }

  /**
   * The session cookie for a user who just authenticated (ui/session.ts signIn: a new session id every time, the
   * browser's previous one void). A session of another user this browser held ends as a logout does.
   */
  async function startSession(req: FastifyRequest, reply: FastifyReply, subject: string, how: { acr?: string; amr?: string[] } = {}): Promise<void> {
    const ctx = ctxOf(req);
    await sessionOpened(reply, ctx, await openSession(ctx, req, subject, lk.audit, how));
  }

  /**
   * startSession's writes, through ctx.store (a transaction's, for the sign-up page); nothing sent yet. The events
   * go to `audit`: inside a transaction, a list recorded once it commits (a rolled-back sign-up ended no session).
   */
  async function openSession(ctx: EngineContext, req: FastifyRequest, subject: string, audit: Pick<AuditLog, 'record'> = lk.audit, how: { acr?: string; amr?: string[] } = {}) {
    const { cookie, replacedSid } = await signIn(ctx, parseCookies(req.headers.cookie)[sessionName(ctx)], subject, { ...how, device: describeBrowser(req.headers['user-agent']) });
    const ended = replacedSid !== undefined ? await endBrowserSession(ctx, audit, replacedSid, { method: 'signed_in_again', ip: req.ip }) : undefined;
    return { cookie, backchannel: ended?.backchannel ?? [] };
  }

  /** After openSession (once its writes are committed): the replaced session's clients told, the cookie set. */
  async function sessionOpened(reply: FastifyReply, ctx: EngineContext, opened: Awaited<ReturnType<typeof openSession>>): Promise<void> {
    if (opened.backchannel.length) await lk.backchannel.deliver(opened.backchannel);
    reply.header('Set-Cookie', serializeCookie(sessionName(ctx), opened.cookie, sessionAttributes(ctx, ctx.tenant.settings.sessionTtl)));
  }

  /** The ticket of an interaction URL, only in the browser that started it (binding cookie) and with a CSRF token on POST. */
  async function guard(req: FastifyRequest, reply: FastifyReply, post: boolean): Promise<{ ticket: string; t: LoadedTicket; form: URLSearchParams } | undefined> {
    const ctx = ctxOf(req);
    const ticket = (req.params as { ticket: string }).ticket;
    const t = await loadTicket(ctx, ticket);
    if (!t) {
      htmlHeaders(reply.code(400)).send(errorPage(pageBase(reply), 'Sign-in expired', 'This sign-in request is unknown or has expired. Go back to the application and start again.'));
      return undefined;
    }
    const cookies = parseCookies(req.headers.cookie);
    if (!bindingOk(ticket, cookies[bindCookie(ctx, ticket).name])) {
      htmlHeaders(reply.code(403)).send(errorPage(pageBase(reply), 'Sign-in not allowed', 'This sign-in request was started in another browser. Go back to the application and start again.'));
      return undefined;
    }
    const form = new URLSearchParams(post && typeof req.body === 'string' ? req.body : '');
    if (post && !csrfOk(ticket, form.get('csrf'))) {
      htmlHeaders(reply.code(403)).send(errorPage(pageBase(reply), 'Request rejected', 'The form was missing its security token. Reload the page and try again.'));
      return undefined;
    }
    return { ticket, t, form };
  }

  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));

    // No field of the sign-in, consent, device and logout forms admits a NUL character, and PostgreSQL text cannot
    // hold one: such a request gets an error page before any lookup. The endpoints whose parameters go to the
    // engine as received (authorization, RP-initiated logout) are left to it: Params.parse refuses NUL (and any
    // other malformed parameter) with the engine's own invalid_request (RFC 6749 Appendix A).
    scope.addHook('preHandler', (req, reply, done) => {
      if (ENGINE_PARAMETER_ROUTES.some((r) => req.routeOptions.url?.endsWith(r))) return done();
      const body = typeof req.body === 'string' ? req.body : '';
      if (/%00|\u0000/i.test(req.url) || /%00|\u0000/i.test(body)) {
        htmlHeaders(reply.code(400)).send(errorPage(pageBase(reply), 'Invalid request', 'The request holds characters that no valid request holds.'));
        return;
      }
      done();
    });

    scope.get('/assets/latchkey.css', (_req, reply) => {
      void reply.header('Cache-Control', 'public, max-age=86400').type('text/css; charset=utf-8').send(STYLESHEET);
    });
    // The one script a form_post response page runs (its CSP allows this URL and nothing else).
    scope.get('/assets/form-post.js', (_req, reply) => {
      void reply.header('Cache-Control', 'public, max-age=86400').type('text/javascript; charset=utf-8').send(FORM_POST_SCRIPT);
    });
    // The script of the pages that offer a security key (ui/html.ts WEBAUTHN_SCRIPT), run by each page's nonce.
    scope.get('/assets/webauthn.js', (_req, reply) => {
      void reply.header('Cache-Control', 'public, max-age=86400').type('text/javascript; charset=utf-8').send(WEBAUTHN_SCRIPT);
    });

    // OIDC Core §3.1.2.1: GET and POST (form-encoded) are both supported.
    const authorize = async (req: FastifyRequest, reply: FastifyReply) => {
      const ctx = ctxOf(req);
      const parameters = req.method === 'POST' ? (typeof req.body === 'string' ? req.body : '') : rawQuery(req);
      const r = await authorization({ parameters }, ctx, { defer: true });
      if (r.action !== 'INTERACTION' && r.action !== 'NO_INTERACTION') return sendEngineResult(reply, r);
      const pending = r.pending!;
      const ticket = pending.ticket;
      // Answered at once, without parking the request (no ticket row written only to be consumed in this same
      // request), when no page is needed: a signed-in user whose session and consent already cover it (single
      // sign-on), or prompt=none, which issues or fails (login_required, …) the same way. Anything else parks it.
      const signedIn = parseCookies(req.headers.cookie)[sessionName(ctx)] !== undefined;
      // A POST from another site comes without the (by default SameSite=Lax) session cookie, so it cannot tell a signed-out browser
      // (prompt=none would answer login_required wrongly): parked, the GET to the interaction URL brings the cookie.
      const cookieHeldBack = !signedIn && req.method === 'POST' && req.headers['sec-fetch-site'] === 'cross-site';
      if (!opts.interactionUrl && !cookieHeldBack && (r.action === 'NO_INTERACTION' || signedIn)) {
        const { d, live } = await decision(req, pending.loaded, false);
        const targets = [origin(pending.loaded.request.redirectUri)];
        if (d.kind === 'issue') {
          sendEngineResult(reply, await authorizationIssuePending(pending, issueInput(live!), ctx), targets);
          return reply;
        }
        if (d.kind === 'fail') {
          sendEngineResult(reply, await authorizationFailPending(pending, { reason: d.reason }, ctx), targets);
          return reply;
        }
      }
      await pending.park();
      if (opts.interactionUrl) {
        const to = `${opts.interactionUrl}${opts.interactionUrl.includes('?') ? '&' : '?'}ticket=${encodeURIComponent(ticket)}`;
        return reply.code(303).header('Cache-Control', 'no-store').header('Location', to).send();
      }
      // Otherwise a page is needed: on to the interaction URL, bound to this browser.
      const bind = bindCookie(ctx, ticket);
      reply.header('Set-Cookie', serializeCookie(bind.name, binding(ticket), cookieAttributes(ctx, bind, ctx.tenant.settings.interactionTtl)));
      return reply.code(303).header('Cache-Control', 'no-store').header('Location', ixPath(ctx, ticket)).send();
    };
    scope.get('/oauth/authorize', authorize);
    scope.post('/oauth/authorize', authorize);

    scope.get('/interaction/:ticket', async (req, reply) => {
      const g = await guard(req, reply, false);
      if (!g) return reply;
      return proceed(req, reply, g.ticket, g.t);
    });

    /** A form posted on an interaction page (guard), with its ticket's row and the way back to the page (a 303). */
    async function interactionForm(req: FastifyRequest, reply: FastifyReply) {
      const ctx = ctxOf(req);
      const g = await guard(req, reply, true);
      if (!g) return undefined;
      const tkHash = ctx.hasher.hash(g.ticket);
      const tk = await ctx.store.findTicket(ctx.tenant.id, tkHash);
      const back = () => reply.code(303).header('Cache-Control', 'no-store').header('Location', ixPath(ctx, g.ticket)).send();
      return { ...g, ctx, targets: [origin(g.t.request.redirectUri)], tkHash, tk, back };
    }

    scope.post('/interaction/:ticket/login', async (req, reply) => {
      const f = await interactionForm(req, reply);
      if (!f) return reply;
      const { ctx, ticket, t, form, targets, tkHash, tk, back } = f;
      const markLoggedIn = () => ctx.store.updateTicketData(ctx.tenant.id, tkHash, { ...tk!.data, loggedIn: true });

      if (form.get('continue') === '1') {
        // select_account: the user chose the account already signed in. Only where the page offers that choice
        // (decide: continueAs): never for a request that must re-authenticate (prompt=login, an expired max_age,
        // OIDC Core §3.1.2.1) or that names another user. Otherwise back to the page, as it now stands.
        const { d, live } = await decision(req, t, false);
        if (live && d.kind === 'login' && d.continueAs !== undefined) await markLoggedIn();
        return back();
      }
      const clientName = t.client.clientName ?? t.client.clientId;
      const again = (status: number, error: string, username?: string, invalid?: ('username' | 'password')[]) =>
        htmlHeaders(reply.code(status), targets).send(loginPage(pageBase(reply), { action: `${ixPath(ctx, ticket)}/login`, csrf: csrfFor(ticket), clientName, username, error, invalid, ...clientBranding(t.client) }));
      const user = await passwordLogin(req, reply, form, again, { action: `${ixPath(ctx, ticket)}/login`, targets });
      if (!user) return reply;
      await markLoggedIn();
      return back();
    });

    // Two-step sign-in offered inside a sign-in (ui/interaction.ts 'mfa-setup'): turned on with a first code, which
    // also makes this session a two-step one (a password of the last MFA_CHANGE_FRESHNESS seconds, then the code), or
    // declined for this request ("not now"; for an essential acr the engine then answers access_denied). Any other
    // state of the request (the offer no longer stands) goes back to the interaction page, which decides afresh.
    scope.post('/interaction/:ticket/mfa', async (req, reply) => {
      const f = await interactionForm(req, reply);
      if (!f) return reply;
      const { ctx, ticket, t, form, targets, tkHash, tk, back } = f;
      const choice = form.get('decision');
      if (choice === 'continue') return back();
      const { d, live } = await decision(req, t, tk?.data.loggedIn === true, tk?.data.mfaSetupDeclined === true);
      if (d.kind !== 'mfa-setup' || !live || !tk) return back();
      if (choice === 'skip') {
        await ctx.store.updateTicketData(ctx.tenant.id, tkHash, { ...tk.data, mfaSetupDeclined: true });
        return back();
      }
      const clientName = t.client.clientName ?? t.client.clientId;
      const page = async (status: number, extra: { error?: string; on?: boolean; recoveryCodes?: string[] }) =>
        htmlHeaders(reply.code(status), targets).send(
          mfaPage(pageBase(reply), {
            action: `${ixPath(ctx, ticket)}/mfa`, csrf: csrfFor(ticket), username: live.user.username, on: extra.on ?? false,
            setup: extra.on ? undefined : await otpSetup(ctx, live.user), enrol: { clientName, required: d.required },
            error: extra.error, recoveryCodes: extra.recoveryCodes,
          }),
        );
      if (await beginOtpAttempt(ctx, live.user.id)) {
        reply.header('Retry-After', String(retryAfter(ctx)));
        return page(429, { error: 'Too many wrong codes. Wait a few minutes and try again.' });
      }
      const recoveryCodes = await confirmOtp(ctx, live.user.id, (form.get('otp') ?? '').slice(0, 20));
      if (!recoveryCodes) return page(400, { error: 'That code is not right. Enter the code your app shows now.' });
      await otpAccepted(ctx, live.user.id);
      lk.audit.record({ tenantId: ctx.tenant.id, type: 'mfa.enabled', clientId: t.client.clientId, subject: live.user.id, ip: req.ip });
      // The password (of the last few minutes) and now a code from the app: this session is a two-step one (RFC 8176 amr).
      await startSession(req, reply, live.user.id, { acr: MFA_ACR, amr: MFA_AMR });
      return page(200, { on: true, recoveryCodes });
    });

    // prompt=create (Initiating User Registration via OpenID Connect): only when registration is enabled.
    scope.post('/interaction/:ticket/create', async (req, reply) => {
      const ctx = ctxOf(req);
      const g = await guard(req, reply, true);
      if (!g) return reply;
      const { ticket, t, form } = g;
      const targets = [origin(t.request.redirectUri)];
      const clientName = t.client.clientName ?? t.client.clientId;
      const fields = {
        username: (form.get('username') ?? '').slice(0, 100),
        name: (form.get('name') ?? '').slice(0, 200),
        email: (form.get('email') ?? '').slice(0, 320),
      };
      const again = (status: number, error: string, invalid?: CreateAccountPageModel['invalid']) =>
        htmlHeaders(reply.code(status), targets).send(createAccountPage(pageBase(reply), { action: `${ixPath(ctx, ticket)}/create`, csrf: csrfFor(ticket), clientName, error, invalid, ...fields }));
      if (!ctx.tenant.settings.allowRegistration || !t.request.prompt.includes('create')) return again(403, 'Account creation is not available.');
      if (await beginRegistrationAttempt(ctx, req.ip)) {
        reply.header('Retry-After', String(retryAfter(ctx)));
        return again(429, 'Too many accounts were created from this address. Wait a few minutes and try again.');
      }
      let user: UserRecord;
      let opened: Awaited<ReturnType<typeof openSession>>;
      try {
        const claims: Record<string, unknown> = {};
        if (fields.name) claims.name = fields.name;
        if (fields.email) Object.assign(claims, { email: fields.email, email_verified: false });
        // Checked and hashed before the transaction (argon2 must not hold it open).
        user = await newUserRecord(ctx, { username: fields.username, password: (form.get('password') ?? '').slice(0, 1024), claims });
        const made = user;
        // The account, its first session and the sign-in's mark on the ticket, all or none: an account stored by a
        // sign-up that then failed would make the user's retry "username taken" for an account they never got into.
        // The audit events of the attempt that commits only (a retried or failed transaction's are dropped).
        let events: AuditEventInput[] = [];
        opened = await ctx.store.transaction(async (tx) => {
          events = [];
          await storeNewUser(ctx, tx, made);
          const o = await openSession({ ...ctx, store: tx }, req, made.id, { record: (e) => events.push(e) });
          const tkHash = ctx.hasher.hash(ticket);
          const tk = await tx.findTicket(ctx.tenant.id, tkHash);
          await tx.updateTicketData(ctx.tenant.id, tkHash, { ...tk!.data, loggedIn: true });
          return o;
        });
        for (const e of events) lk.audit.record(e);
        lk.audit.record({ tenantId: ctx.tenant.id, type: 'user.registered', subject: made.id, ip: req.ip });
      } catch (e) {
        if (e instanceof UserInputError) {
          // The field the error is about, when it is one of the form's (services/users.ts names it).
          const fieldOfForm = (['username', 'password', 'name', 'email'] as const).find((f) => f === e.field);
          return again(400, e.message.replace(/^claims\./, ''), fieldOfForm);
        }
        // A taken username is the user's to fix (the sign-up form again), not a server failure.
        if (e instanceof ServiceError && e.code === 'conflict') return again(409, 'That username is taken. Choose another one.', 'username');
        throw e;
      }
      await sessionOpened(reply, ctx, opened);
      rememberDevice(reply, ctx, user.username); // the new account's own browser: its owner is not locked out of it
      req.log.info({ event: 'user_registered', tenant: ctx.tenant.id, sub: user.id }, 'account created');
      return reply.code(303).header('Cache-Control', 'no-store').header('Location', ixPath(ctx, ticket)).send();
    });

    scope.post('/interaction/:ticket/consent', async (req, reply) => {
      const ctx = ctxOf(req);
      const g = await guard(req, reply, true);
      if (!g) return reply;
      const { ticket, t, form } = g;
      const targets = [origin(t.request.redirectUri)];
      const live = await readSession(ctx, parseCookies(req.headers.cookie)[sessionName(ctx)]);
      if (!live) return reply.code(303).header('Cache-Control', 'no-store').header('Location', ixPath(ctx, ticket)).send();
      if (form.get('decision') !== 'approve') {
        unbind(reply, ctx, ticket);
        auditConsent(lk.audit, ctx.tenant.id, 'consent.denied', { clientId: t.client.clientId, subject: live.user.id, scope: consentScopes(t.request) }, { ip: req.ip });
        return sendEngineResult(reply, await authorizationFail({ ticket, reason: 'ACCESS_DENIED' }, ctx), targets);
      }
      // The issue step records the consent (consentGiven) and reports it: recorded and audited as for a Core API or library host.
      const issued = await authorizationIssue(
        { ticket, subject: live.user.id, authTime: live.session.authTime, acr: live.session.acr ?? undefined, amr: live.session.data.amr as string[] | undefined, sid: live.session.sid, latchkeySession: true, consentGiven: true },
        ctx,
      );
      auditIssuedConsent(lk.audit, ctx.tenant.id, issued, { ip: req.ip });
      return sendIssued(reply, ticket, issued, targets);
    });

    // OpenID Connect RP-Initiated Logout 1.0: GET and POST.
    const logout = async (req: FastifyRequest, reply: FastifyReply) => {
      const ctx = ctxOf(req);
      const parameters = req.method === 'POST' ? (typeof req.body === 'string' ? req.body : '') : rawQuery(req);
      const r = await endSessionRequest({ parameters }, ctx);
      if (r.action !== 'OK') return sendEngineResult(reply, r as unknown as AuthorizationResult);
      const cookie = parseCookies(req.headers.cookie)[sessionName(ctx)];
      // §2: the RP may POST. From its page on another site the browser holds the SameSite=Lax session cookie back, so
      // this request cannot tell whether the browser is signed in: answering "signed out" would send the user on to
      // the RP with the session still live. The browser posts it again from this origin, which sends the cookie
      // (Sec-Fetch-Site says where a request came from; a browser that does not send it is answered as before).
      if (req.method === 'POST' && cookie === undefined && req.headers['sec-fetch-site'] === 'cross-site') {
        const nonce = newHandle(ctx.random, 16);
        return htmlHeaders(reply, r.postLogoutRedirectUri ? [origin(r.postLogoutRedirectUri)] : [], { scriptNonce: nonce }).send(
          resubmitPage(pageBase(reply), { action: `${pagesOf(ctx).base}/oauth/logout`, fields: [...new URLSearchParams(parameters)], nonce, title: 'Continue to sign out' }),
        );
      }
      const live = await readSession(ctx, cookie);
      // No session: nothing to confirm, so the user would be sent on without seeing anything; only to a trusted URI.
      if (!live) return signedOut(reply, { ended: false, frontchannel: [], backchannel: [] }, r.postLogoutRedirectUnattended ? r.postLogoutRedirectUri : undefined);
      // §2: without proof the request comes from this session's RP (a matching id_token_hint), ask the user first.
      if (logoutTiedToSession(r, live.session)) return finishLogout(reply, live.session.sid, r.postLogoutRedirectUri, r.clientId);
      const ticket = newHandle(ctx.random);
      const now = nowSeconds(ctx);
      await ctx.store.insertTicket({
        tenantId: ctx.tenant.id,
        hash: logoutTicketHash(ctx, ticket),
        clientId: r.clientId ?? '',
        expiresAt: now + ctx.tenant.settings.interactionTtl,
        consumedAt: null,
        // The confirmation is for this session only: a page (action and CSRF token) fetched in another browser must
        // not sign this one out (RP-Initiated Logout §6: logout without a valid id_token_hint is a DoS vector).
        data: { kind: 'logout', next: r.postLogoutRedirectUri ?? null, createdAt: now, sid: live.session.sid },
      });
      // Chrome applies form-action to the redirect that follows the confirmation (signedOut: a 303 to the RP).
      return htmlHeaders(reply, r.postLogoutRedirectUri ? [origin(r.postLogoutRedirectUri)] : []).send(
        logoutConfirmPage(pageBase(reply), { action: `${pagesOf(ctx).base}/logout/${ticket}`, csrf: ctx.hasher.hash(`logout-csrf:${ticket}`), clientName: r.clientName, username: live.user.username }),
      );
    };
    scope.get('/oauth/logout', logout);
    scope.post('/oauth/logout', logout);

    scope.post('/logout/:ticket', async (req, reply) => {
      const ctx = ctxOf(req);
      const ticket = (req.params as { ticket: string }).ticket;
      const form = new URLSearchParams(typeof req.body === 'string' ? req.body : '');
      if (ticket.length > 100 || !ctx.hasher.verify(`logout-csrf:${ticket}`, form.get('csrf') ?? '')) {
        return htmlHeaders(reply.code(403)).send(errorPage(pageBase(reply), 'Request rejected', 'The form was missing its security token. Reload the page and try again.'));
      }
      const t = await ctx.store.consumeTicket(ctx.tenant.id, logoutTicketHash(ctx, ticket), nowSeconds(ctx));
      if (!t || t.data.kind !== 'logout' || t.expiresAt <= nowSeconds(ctx)) {
        return htmlHeaders(reply.code(400)).send(errorPage(pageBase(reply), 'Sign-out expired', 'This sign-out request is unknown or has expired.'));
      }
      const next = (t.data.next as string | null) ?? undefined;
      if (form.get('decision') !== 'logout') return htmlHeaders(reply).send(messagePage(pageBase(reply), 'Still signed in', 'You are still signed in.'));
      const live = await readSession(ctx, parseCookies(req.headers.cookie)[sessionName(ctx)]);
      if (!live) return signedOut(reply, { ended: false, frontchannel: [], backchannel: [] }, next);
      if (typeof t.data.sid === 'string' && t.data.sid !== live.session.sid) {
        return htmlHeaders(reply.code(403)).send(errorPage(pageBase(reply), 'Request rejected', 'This sign-out request was made for another session. You are still signed in.'));
      }
      return finishLogout(reply, live.session.sid, next, t.clientId);
    });

    async function finishLogout(reply: FastifyReply, sid: string, next: string | undefined, clientId?: string) {
      const ctx = ctxOf(reply.request);
      const outcome = await endBrowserSession(ctx, lk.audit, sid, { method: 'rp_initiated', clientId, ip: reply.request.ip });
      await lk.backchannel.deliver(outcome.backchannel);
      return signedOut(reply, outcome, next);
    }

    function signedOut(reply: FastifyReply, outcome: LogoutOutcome, next: string | undefined) {
      const ctx = ctxOf(reply.request);
      // Only a cookie the request carried is cleared: a cross-site POST (SameSite=Lax holds the cookie back) must not
      // sign the browser out through its answer's Set-Cookie, bypassing the confirmation (RP-Initiated Logout §6).
      if (parseCookies(reply.request.headers.cookie)[sessionName(ctx)] !== undefined) {
        reply.header('Set-Cookie', serializeCookie(sessionName(ctx), '', sessionAttributes(ctx, 0)));
      }
      const frames = outcome.frontchannel.map((f) => f.uri);
      if (!frames.length && next) return reply.code(303).header('Cache-Control', 'no-store').header('Location', next).send();
      const nonce = newHandle(ctx.random, 16);
      return htmlHeaders(reply, [], { frames: frames.map(origin), scriptNonce: nonce }).send(signedOutPage(pageBase(reply), { frames, next, nonce }));
    }

    // RFC 8628 §3.3: the verification page. The user signs in (the same password check as every sign-in form),
    // enters the code (rate-limited, §5.1), sees which client asks for what, and approves or denies (§5.4).
    // A planted CSRF cookie (its value known to the planter, who reads the matching token off his own /device page) would
    // defeat the CSRF check. RFC 6265bis §4.1.3.1: a __Secure- cookie can still be set by a sibling subdomain (Domain=
    // the parent, Path=/device/login to be sent first), and its same-site POST carries it: only __Host- (no Domain,
    // Path=/) cannot be planted. So over https the cookie is __Host-, host-wide, named per tenant.
    /**
     * CSRF for the forms of a page outside any sign-in flow (/device, /ciba): the keyed hash of a random per-browser
     * cookie of the page's own (set when missing). `issue` gives the token for a page; `form` checks a POST's, answering
     * 403 itself (undefined) when it does not match.
     */
    const pageCsrf = (plain: string, path: string) => {
      const cookie = (ctx: EngineContext) => hostCookie(ctx, plain, path);
      const tokenOf = (v: string) => lk.hasher.hash(`csrf:${path}:${v}`);
      return {
        issue(req: FastifyRequest, reply: FastifyReply): string {
          const ctx = ctxOf(req);
          let v = parseCookies(req.headers.cookie)[cookie(ctx).name];
          if (!v || !/^[A-Za-z0-9_-]{43}$/.test(v)) {
            v = newHandle(ctx.random);
            reply.header('Set-Cookie', serializeCookie(cookie(ctx).name, v, cookieAttributes(ctx, cookie(ctx), ctx.tenant.settings.sessionTtl)));
          }
          return tokenOf(v);
        },
        form(req: FastifyRequest, reply: FastifyReply): URLSearchParams | undefined {
          const form = new URLSearchParams(typeof req.body === 'string' ? req.body : '');
          const v = parseCookies(req.headers.cookie)[cookie(ctxOf(req)).name];
          if (!v || !lk.hasher.verify(`csrf:${path}:${v}`, form.get('csrf') ?? '')) {
            htmlHeaders(reply.code(403)).send(errorPage(pageBase(reply), 'Request rejected', 'The form was missing its security token. Reload the page and try again.'));
            return undefined;
          }
          return form;
        },
      };
    };
    const deviceCsrfKit = pageCsrf('lk_dev', '/device');
    const deviceCsrf = deviceCsrfKit.issue;
    const deviceForm = deviceCsrfKit.form;
    const codePage = (reply: FastifyReply, csrf: string, username: string, userCode: string, error?: string, status = 200) =>
      htmlHeaders(reply.code(status)).send(deviceCodePage(pageBase(reply), { action: `${pagesOf(ctxOf(reply.request)).base}/device`, csrf, username, userCode, error }));
    const deviceLoginPage = (reply: FastifyReply, csrf: string, userCode: string, error?: string, username?: string, status = 200, invalid?: ('username' | 'password')[]) =>
      htmlHeaders(reply.code(status)).send(
        loginPage(pageBase(reply), { action: `${pagesOf(ctxOf(reply.request)).base}/device/login`, csrf, clientName: 'your device', purpose: 'to connect a device to your account', hidden: { user_code: userCode }, username, error, invalid }),
      );

    /** The signed-in user's decision as the engine's decision steps take it (deviceComplete, cibaComplete). */
    const decisionBy = (live: { user: { id: string }; session: SessionRecord }, approve: boolean) => ({
      result: approve ? ('AUTHORIZED' as const) : ('ACCESS_DENIED' as const),
      subject: live.user.id,
      authTime: live.session.authTime,
      acr: live.session.acr ?? undefined,
      amr: live.session.data.amr as string[] | undefined,
    });
    /** A decision recorded on a page (/device, /ciba): its audit event, and the page that says what happened. */
    const decided = (req: FastifyRequest, reply: FastifyReply, live: { user: { id: string } }, r: { clientId?: string; resultCode: string }, type: 'device.approved' | 'device.denied' | 'ciba.approved' | 'ciba.denied', [title, message]: [string, string]) => {
      lk.audit.record({ tenantId: ctxOf(req).tenant.id, type, clientId: r.clientId, subject: live.user.id, ip: req.ip, resultCode: r.resultCode });
      return htmlHeaders(reply).send(messagePage(pageBase(reply), title, message));
    };

    /**
     * RFC 8628 §5.1: the confirmation form carries this, derived from the code the user verified at POST /device, the
     * browser (its CSRF value) and the user: /device/confirm only decides a code this browser checked there, so it is
     * no way to try codes, nor to decide one another user or browser verified.
     */
    const confirmBinding = (ctx: EngineContext, userId: string, csrf: string, code: string) =>
      `device-confirm:${JSON.stringify([ctx.tenant.id, userId, csrf, code])}`;
    /**
     * RFC 8628 §5.1: the one gate for a user code, at POST /device and again at POST /device/confirm: refused (429)
     * while the user or the address has too many wrong codes; a code that is not pending (or, `bound` false, was not
     * verified here) counts as a wrong one. Answers the page itself and returns undefined, or returns the VALID lookup.
     */
    async function checkUserCode(
      req: FastifyRequest, reply: FastifyReply, live: { user: { id: string; username: string } }, csrf: string, entered: string, bound = true,
    ): Promise<DeviceVerificationResult | undefined> {
      const ctx = ctxOf(req);
      if (await beginUserCodeAttempt(ctx, live.user.id, req.ip)) {
        reply.header('Retry-After', String(retryAfter(ctx)));
        codePage(reply, csrf, live.user.username, entered, 'Too many wrong codes. Wait a few minutes and try again.', 429);
        return undefined;
      }
      const v = bound ? await deviceVerification({ userCode: entered }, ctx) : undefined;
      if (v?.action === 'VALID' || v?.action === 'INTERNAL_SERVER_ERROR') await userCodeAccepted(ctx, live.user.id, req.ip);
      if (v?.action === 'VALID') return v;
      if (v?.action === 'INTERNAL_SERVER_ERROR') {
        sendEngineResult(reply, v as unknown as AuthorizationResult);
        return undefined;
      }
      const why = v?.action === 'EXPIRED' ? 'That code has expired. Start again on your device.' : 'That code is not valid. Check it and try again.';
      codePage(reply, csrf, live.user.username, entered, why, 400);
      return undefined;
    }

    scope.get('/device', async (req, reply) => {
      const ctx = ctxOf(req);
      const userCode = (new URLSearchParams(rawQuery(req)).get('user_code') ?? '').slice(0, 64);
      const csrf = deviceCsrf(req, reply);
      const live = await readSession(ctx, parseCookies(req.headers.cookie)[sessionName(ctx)]);
      if (!live) return deviceLoginPage(reply, csrf, userCode);
      return codePage(reply, csrf, live.user.username, userCode);
    });

    scope.post('/device/login', async (req, reply) => {
      const ctx = ctxOf(req);
      const form = deviceForm(req, reply);
      if (!form) return reply;
      const userCode = (form.get('user_code') ?? '').slice(0, 64);
      const csrf = form.get('csrf')!;
      const user = await passwordLogin(req, reply, form, (status, error, username, invalid) => deviceLoginPage(reply, csrf, userCode, error, username, status, invalid), { action: `${pagesOf(ctx).base}/device/login`, hidden: { user_code: userCode } });
      if (!user) return reply;
      const next = `${pagesOf(ctx).base}/device` + (userCode ? `?user_code=${encodeURIComponent(userCode)}` : '');
      return reply.code(303).header('Cache-Control', 'no-store').header('Location', next).send();
    });

    scope.post('/device', async (req, reply) => {
      const ctx = ctxOf(req);
      const form = deviceForm(req, reply);
      if (!form) return reply;
      const csrf = form.get('csrf')!;
      const live = await readSession(ctx, parseCookies(req.headers.cookie)[sessionName(ctx)]);
      const entered = (form.get('user_code') ?? '').slice(0, 64);
      if (!live) return deviceLoginPage(reply, csrf, entered);
      const v = await checkUserCode(req, reply, live, csrf, entered);
      if (!v) return reply;
      const code = normalizeUserCode(entered)!;
      return htmlHeaders(reply).send(
        deviceConfirmPage(pageBase(reply), {
          action: `${pagesOf(ctx).base}/device/confirm`,
          csrf,
          binding: lk.hasher.hash(confirmBinding(ctx, live.user.id, csrf, code)),
          userCode: formatUserCode(code),
          clientName: v.client!.clientName ?? v.client!.clientId,
          logoUri: v.client!.logoUri,
          scopes: v.scopes ?? [],
          authorizationDetails: v.authorizationDetails, // RFC 9396
          username: live.user.username,
        }),
      );
    });

    scope.post('/device/confirm', async (req, reply) => {
      const ctx = ctxOf(req);
      const form = deviceForm(req, reply);
      if (!form) return reply;
      const csrf = form.get('csrf')!;
      const live = await readSession(ctx, parseCookies(req.headers.cookie)[sessionName(ctx)]);
      const userCode = (form.get('user_code') ?? '').slice(0, 64);
      if (!live) return deviceLoginPage(reply, csrf, userCode);
      // RFC 8628 §5.1: the same gate as POST /device, and only for the code verified there by this browser and user.
      const code = normalizeUserCode(userCode);
      const bound = code !== undefined && lk.hasher.verify(confirmBinding(ctx, live.user.id, csrf, code), form.get('binding') ?? '');
      if (!(await checkUserCode(req, reply, live, csrf, userCode, bound))) return reply;
      const approve = form.get('decision') === 'approve';
      const r = await deviceComplete({ userCode, ...decisionBy(live, approve), sid: live.session.sid }, ctx);
      if (r.action === 'SUCCESS') {
        return decided(req, reply, live, r, approve ? 'device.approved' : 'device.denied', approve
          ? ['Device connected', 'Your device is now signed in. You can close this page and return to it.']
          : ['Request denied', 'The device was not given access. You can close this page.']);
      }
      if (r.action === 'INTERNAL_SERVER_ERROR') return sendEngineResult(reply, r as unknown as AuthorizationResult);
      const why = r.action === 'USER_CODE_EXPIRED' ? 'That code has expired. Start again on your device.' : 'That code is no longer valid. Start again on your device.';
      return codePage(reply, csrf, live.user.username, '', why, 400);
    });

    /**
     * A signed-in user's own page at `path` (/ciba, /mfa, /account): GET shows it (`show`) to a user `signedIn` finds,
     * else its sign-in form; POST `path`/login signs in (passwordLogin: the same checks, limits and second step as every
     * sign-in form) and comes back. Its CSRF kit (cookie `cookieName`) and sign-in page serve the page's own POST.
     */
    type SignedIn = { user: { id: string; username: string } };
    const userPage = <L extends SignedIn>(
      path: string, cookieName: string, words: { clientName: string; purpose: string },
      signedIn: (req: FastifyRequest) => Promise<L | undefined>, show: (reply: FastifyReply, csrf: string, live: L) => Promise<FastifyReply>,
    ) => {
      const kit = pageCsrf(cookieName, path);
      const login = (reply: FastifyReply, csrf: string, error?: string, username?: string, status = 200, invalid?: ('username' | 'password')[]) =>
        htmlHeaders(reply.code(status)).send(loginPage(pageBase(reply), { action: `${pagesOf(ctxOf(reply.request)).base}${path}/login`, csrf, ...words, hidden: {}, username, error, invalid }));
      scope.get(path, async (req, reply) => {
        const csrf = kit.issue(req, reply);
        const live = await signedIn(req);
        return live ? show(reply, csrf, live) : login(reply, csrf);
      });
      scope.post(`${path}/login`, async (req, reply) => {
        const base = pagesOf(ctxOf(req)).base;
        const form = kit.form(req, reply);
        if (!form) return reply;
        const csrf = form.get('csrf')!;
        const user = await passwordLogin(req, reply, form, (status, error, username, invalid) => login(reply, csrf, error, username, status, invalid), { action: `${base}${path}/login` });
        if (!user) return reply;
        return reply.code(303).header('Cache-Control', 'no-store').header('Location', `${base}${path}`).send();
      });
      /** The page's own POST: CSRF-checked and signed in (else the sign-in form, saying `again`), then `act`. */
      const post = (again: string | undefined, act: (req: FastifyRequest, reply: FastifyReply, form: URLSearchParams, csrf: string, live: L) => Promise<FastifyReply>) =>
        scope.post(path, async (req, reply) => {
          const form = kit.form(req, reply);
          if (!form) return reply;
          const csrf = form.get('csrf')!;
          const live = await signedIn(req);
          return live ? act(req, reply, form, csrf, live) : login(reply, csrf, again);
        });
      return { post, login };
    };
    const liveSession = (req: FastifyRequest) => {
      const ctx = ctxOf(req);
      return readSession(ctx, parseCookies(req.headers.cookie)[sessionName(ctx)]);
    };

    // OpenID CIBA Core §8: the authentication device in a browser. The user signs in (the same password check as every
    // sign-in form) and sees the CIBA requests that name them, each with its binding message, to allow or deny. Nothing
    // here is guessable input: a request is decided only by the user it names, signed in (engine/ciba.ts cibaComplete).
    const cibaRequestsPage = async (reply: FastifyReply, csrf: string, live: { user: { id: string; username: string } }) => {
      const ctx = ctxOf(reply.request);
      const pending = await pendingCibaRequests(ctx, live.user.id);
      return htmlHeaders(reply).send(
        cibaPage(pageBase(reply), {
          action: `${pagesOf(ctx).base}/ciba`,
          csrf,
          username: live.user.username,
          requests: pending.map((r) => ({ id: r.id, clientName: r.client.clientName ?? r.client.clientId, logoUri: r.client.logoUri, scopes: r.scopes, bindingMessage: r.bindingMessage, authorizationDetails: r.authorizationDetails })),
        }),
      );
    };

    userPage('/ciba', 'lk_ciba', { clientName: 'your sign-in requests', purpose: 'to see the sign-in requests waiting for you' }, liveSession, cibaRequestsPage).post(undefined, async (req, reply, form, _csrf, live) => {
      const ctx = ctxOf(req);
      const approve = form.get('decision') === 'approve';
      // The phone's browser session is not the client's: no sid, so signing out here does not end the client's tokens.
      const r = await cibaComplete({ requestId: (form.get('request') ?? '').slice(0, 200), ...decisionBy(live, approve) }, ctx);
      if (r.action === 'SUCCESS') {
        return decided(req, reply, live, r, approve ? 'ciba.approved' : 'ciba.denied', approve
          ? ['Sign-in allowed', 'You are signed in to the application that asked. You can close this page.']
          : ['Request denied', 'The application was not given access. You can close this page.']);
      }
      if (r.action === 'INTERNAL_SERVER_ERROR') return sendEngineResult(reply, r as unknown as AuthorizationResult);
      const why = r.action === 'EXPIRED' ? 'That request has expired. Start again in the application.' : 'That request is no longer waiting for you.';
      return htmlHeaders(reply.code(400)).send(messagePage(pageBase(reply), 'Request not found', why));
    });

    // Two-step sign-in (services/mfa.ts): the signed-in user turns their authenticator app on or off. Either change
    // needs a sign-in of the last MFA_CHANGE_FRESHNESS seconds (a session left open is not enough to change how one signs in)
    // and a code from the app: turning on proves the app holds the secret, turning off that the user still has it.
    /** A sign-in recent enough to change how one signs in (MFA_CHANGE_FRESHNESS): two-step sign-in, the password. */
    const freshSignIn = (ctx: EngineContext, session: { authTime: number }) => nowSeconds(ctx) - session.authTime <= MFA_CHANGE_FRESHNESS;
    const mfaSignedIn = async (req: FastifyRequest) => {
      const live = await liveSession(req);
      return live && freshSignIn(ctxOf(req), live.session) ? live : undefined;
    };
    const mfaStatusPage = async (
      reply: FastifyReply, csrf: string, live: { user: { id: string; username: string } }, say: { error?: string; done?: string; status?: number; recoveryCodes?: string[] } = {},
    ) => {
      const ctx = ctxOf(reply.request);
      const on = await otpRequired(ctx, live.user.id);
      const setup = on ? undefined : await otpSetup(ctx, live.user);
      const recoveryLeft = on ? await recoveryCodesLeft(ctx, live.user.id) : undefined;
      // With it on, the user's security keys (services/webauthn.ts), and a challenge to add one, bound to this form.
      const keys = on ? await webauthnKeys(ctx, live.user.id) : [];
      const exp = nowSeconds(ctx) + KEY_CHALLENGE_TTL;
      const usable = webauthnUsable(ctx);
      const nonce = on && usable && keys.length < MAX_WEBAUTHN_KEYS ? newHandle(ctx.random, 16) : undefined;
      // A salt per page: two pages of the same form and second still get challenges of their own (each works once).
      const salt = newHandle(ctx.random, 16);
      const addKey = nonce ? { nonce, exp, salt, options: creationOptions(ctx, live.user, webauthnChallenge(ctx, 'create', [live.user.id, csrf, exp, salt]), keys) } : undefined;
      return htmlHeaders(reply.code(say.status ?? 200), [], { scriptNonce: nonce }).send(
        mfaPage(pageBase(reply), {
          action: `${pagesOf(ctx).base}/mfa`, csrf, username: live.user.username, on, setup, error: say.error, done: say.done, recoveryCodes: say.recoveryCodes, recoveryLeft, accountHref: `${pagesOf(ctx).base}/account`,
          keys: on ? keys.map((k) => ({ id: k.credentialId, name: k.name, createdAt: k.createdAt, lastUsedAt: k.lastUsedAt })) : undefined, addKey, keysNeedHostName: on && !usable,
        }),
      );
    };
    /** How long /mfa's challenge to add a key stays good, seconds (the user may take a while to find the key). */
    const KEY_CHALLENGE_TTL = 600;

    const mfa = userPage('/mfa', 'lk_mfa', { clientName: 'your account', purpose: 'to change how you sign in' }, mfaSignedIn, (reply, csrf, live) => mfaStatusPage(reply, csrf, live));
    mfa.post('Sign in again to change how you sign in.', async (req, reply, form, csrf, live) => {
      const ctx = ctxOf(req);
      const decision = form.get('decision');
      // Security keys (services/webauthn.ts): added with the browser's answer to this form's challenge, removed by id.
      // The fresh sign-in this page takes (mfaSignedIn) is the proof here; the app stays, so no code is asked.
      if (decision === 'add-key') {
        const exp = Number(form.get('webauthn_exp'));
        const salt = (form.get('webauthn_salt') ?? '').slice(0, 64);
        const now = nowSeconds(ctx);
        const result = Number.isSafeInteger(exp) && exp > now && exp <= now + KEY_CHALLENGE_TTL && salt
          ? await addWebauthnKey(ctx, live.user.id, form.get('webauthn') ?? '', webauthnChallenge(ctx, 'create', [live.user.id, csrf, exp, salt]), exp, keyName(form.get('key_name')))
          : 'invalid';
        if (result !== 'added') {
          return mfaStatusPage(reply, csrf, live, {
            status: result === 'exists' || result === 'full' || result === 'off' ? 409 : 400,
            error: {
              invalid: 'The key was not added: its answer did not check out, or the page was open too long. Try again.',
              exists: 'That key is already added.',
              full: `An account may have at most ${MAX_WEBAUTHN_KEYS} keys. Remove one to add another.`,
              off: 'Turn two-step sign-in on before adding a security key.',
            }[result],
          });
        }
        lk.audit.record({ tenantId: ctx.tenant.id, type: 'mfa.key_added', subject: live.user.id, ip: req.ip, detail: { name: keyName(form.get('key_name')) } });
        return mfaStatusPage(reply, csrf, live, { done: 'Security key added. Next time you sign in, you can use it instead of a code.' });
      }
      if (decision === 'remove-key') {
        if (!(await removeWebauthnKey(ctx, live.user.id, form.get('key') ?? ''))) {
          return mfaStatusPage(reply, csrf, live, { status: 400, error: 'That key is not one of yours, or was removed already.' });
        }
        lk.audit.record({ tenantId: ctx.tenant.id, type: 'mfa.key_removed', subject: live.user.id, ip: req.ip });
        return mfaStatusPage(reply, csrf, live, { done: 'Security key removed.' });
      }
      const turnOn = decision === 'on';
      const renew = decision === 'recovery';
      if (await beginOtpAttempt(ctx, live.user.id)) {
        reply.header('Retry-After', String(retryAfter(ctx)));
        return mfaStatusPage(reply, csrf, live, { error: 'Too many wrong codes. Wait a few minutes and try again.', status: 429 });
      }
      const code = (form.get('otp') ?? '').slice(0, 20);
      if (renew) {
        // New recovery codes (the old ones void): a code from the app, or one of the recovery codes left.
        if ((await acceptSecondFactor(ctx, live.user.id, code)) === undefined) {
          return mfaStatusPage(reply, csrf, live, { error: 'That code is not right. Enter the code your app shows now.', status: 400 });
        }
        await otpAccepted(ctx, live.user.id);
        lk.audit.record({ tenantId: ctx.tenant.id, type: 'mfa.recovery_codes_renewed', subject: live.user.id, ip: req.ip });
        return mfaStatusPage(reply, csrf, live, { done: 'New recovery codes made. The old ones no longer work.', recoveryCodes: await newRecoveryCodes(ctx, live.user.id) });
      }
      // Turning off takes a code from the app or a recovery code (the app may be the thing that was lost).
      const recoveryCodes = turnOn ? await confirmOtp(ctx, live.user.id, code) : undefined;
      const ok = turnOn ? recoveryCodes !== undefined : (await acceptSecondFactor(ctx, live.user.id, code)) !== undefined && (await removeOtp(ctx, live.user.id));
      if (!ok) return mfaStatusPage(reply, csrf, live, { error: 'That code is not right. Enter the code your app shows now.', status: 400 });
      await otpAccepted(ctx, live.user.id);
      lk.audit.record({ tenantId: ctx.tenant.id, type: turnOn ? 'mfa.enabled' : 'mfa.disabled', subject: live.user.id, ip: req.ip });
      return mfaStatusPage(reply, csrf, live, turnOn
        ? { done: 'Two-step sign-in is now on. Next time you sign in, you will be asked for a code.', recoveryCodes }
        : { done: 'Two-step sign-in is now off.' });
    });

    // The user's account (services/account.ts): the applications with access to it (each can be taken back), where the
    // user is signed in (each other browser can be signed out), and a password change. Signed in (any live session), as
    // on /ciba: removing access and signing out only take something away. The password change, like /mfa, changes how
    // one signs in, so it takes a fresh sign-in.
    type AccountSay = {
      done?: string; error?: string; status?: number; passwordInvalid?: boolean;
      /** The details as typed, shown again with an error about them (`profileInvalid`: its field). */
      typed?: Record<ProfileClaim, string>; profileInvalid?: AccountPageModel['profileInvalid'];
    };
    const accountStatusPage = async (reply: FastifyReply, csrf: string, live: SignedIn & { session: { sid: string } }, say: AccountSay = {}) => {
      const ctx = ctxOf(reply.request);
      const base = pagesOf(ctx).base;
      const [apps, sessions, user, on, keys] = await Promise.all([
        appsWithAccess(ctx, live.user.id), sessionsOf(ctx, live.user.id, live.session.sid), ctx.accounts ? undefined : ctx.store.findUserById(ctx.tenant.id, live.user.id),
        otpRequired(ctx, live.user.id), webauthnKeys(ctx, live.user.id),
      ]);
      // The details Latchkey keeps (an embedding application's accounts keep their own).
      const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
      const stored = user && { name: text(user.claims.name), given_name: text(user.claims.given_name), family_name: text(user.claims.family_name), email: text(user.claims.email) };
      const shown = say.typed ?? stored;
      const profile = user && { ...shown, emailVerified: user.claims.email_verified === true && shown?.email === stored?.email };
      return htmlHeaders(reply.code(say.status ?? 200)).send(
        accountPage(pageBase(reply), {
          action: `${base}/account`, csrf, username: live.user.username, apps, sessions, mfaHref: `${base}/mfa`, twoStep: { on, keys: on ? keys.length : 0 }, done: say.done, error: say.error, passwordInvalid: say.passwordInvalid, passwordChange: !ctx.accounts,
          profile, profileInvalid: say.profileInvalid,
        }),
      );
    };

    const signedOutOf = (n: number) => `Signed out of ${n} other browser${n === 1 ? '' : 's'}.`;
    const account = userPage('/account', 'lk_account', { clientName: 'your account', purpose: 'to manage your account: the applications that can reach it, your details, where you are signed in, your password' }, liveSession, (reply, csrf, live) => accountStatusPage(reply, csrf, live));
    account.post('Sign in again to change your account.', async (req, reply, form, csrf, live) => {
      const ctx = ctxOf(req);
      if (form.get('decision') === 'password') {
        // An embedding application's accounts (ctx.accounts) keep their passwords in that application.
        if (ctx.accounts) return accountStatusPage(reply, csrf, live, { error: 'Your password is not kept here: change it in the application you signed up with.', status: 400 });
        // As at /mfa: changing how one signs in takes a sign-in of the last few minutes, not a session left open (so no
        // current-password field here to guess at).
        if (!freshSignIn(ctx, live.session)) return account.login(reply, csrf, 'Sign in again to change your password.');
        let changed: Awaited<ReturnType<typeof changePassword>>;
        try {
          changed = await changePassword(ctx, live.user.id, live.session.sid, form.get('password') ?? '');
        } catch (e) {
          if (e instanceof UserInputError) return accountStatusPage(reply, csrf, live, { error: `The new password was not accepted: ${e.message}.`, status: 400, passwordInvalid: true });
          throw e;
        }
        await lk.backchannel.deliver(changed.backchannel);
        lk.audit.record({ tenantId: ctx.tenant.id, type: 'password.changed', subject: live.user.id, ip: req.ip, detail: { other_sessions_ended: changed.sessionsEnded } });
        return accountStatusPage(reply, csrf, live, { done: `Password changed.${changed.sessionsEnded ? ` ${signedOutOf(changed.sessionsEnded)}` : ''}` });
      }
      if (form.get('decision') === 'profile') {
        if (ctx.accounts) return accountStatusPage(reply, csrf, live, { error: 'Your details are not kept here: change them in the application you signed up with.', status: 400 });
        const typed = Object.fromEntries(PROFILE_CLAIMS.map((k) => [k, (form.get(k) ?? '').slice(0, 1000)])) as Record<ProfileClaim, string>;
        let changed: ProfileClaim[];
        try {
          changed = await updateProfile(ctx, live.user.id, typed);
        } catch (e) {
          if (!(e instanceof UserInputError)) throw e;
          const field = PROFILE_CLAIMS.find((k) => k === e.field);
          return accountStatusPage(reply, csrf, live, {
            error: `Your details were not saved: ${e.message.replace(/^claims\./, '')}.`, status: 400, profileInvalid: field, typed,
          });
        }
        if (!changed.length) return accountStatusPage(reply, csrf, live, { done: 'Nothing to save: your details are as they were.' });
        lk.audit.record({ tenantId: ctx.tenant.id, type: 'profile.updated', subject: live.user.id, ip: req.ip, detail: { claims: changed } });
        return accountStatusPage(reply, csrf, live, { done: 'Your details are saved.' });
      }
      if (form.get('decision') === 'sign-out') {
        const ended = await signOutSession(ctx, lk.audit, live.user.id, live.session.sid, (form.get('session') ?? '').slice(0, 100), req.ip);
        if (!ended) return accountStatusPage(reply, csrf, live, { error: 'That browser is no longer signed in.', status: 400 });
        await lk.backchannel.deliver(ended);
        return accountStatusPage(reply, csrf, live, { done: signedOutOf(1) });
      }
      if (form.get('decision') === 'sign-out-others') {
        // The other browsers' sessions end as logouts: their clients are told by back-channel now (retried by the dispatcher).
        const { ended, backchannel } = await signOutOtherSessions(ctx, lk.audit, live.user.id, live.session.sid, req.ip);
        await lk.backchannel.deliver(backchannel);
        return accountStatusPage(reply, csrf, live, { done: ended ? signedOutOf(ended) : 'You were not signed in anywhere else.' });
      }
      const clientId = (form.get('client') ?? '').slice(0, 255);
      if (form.get('decision') !== 'remove' || !clientId) return accountStatusPage(reply, csrf, live, { error: 'Choose an application whose access to remove.', status: 400 });
      const name = (await ctx.store.findClient(ctx.tenant.id, clientId))?.clientName ?? clientId;
      if (!(await removeAppAccess(ctx, live.user.id, clientId))) {
        return accountStatusPage(reply, csrf, live, { error: `${name} has no access to remove.`, status: 400 });
      }
      lk.audit.record({ tenantId: ctx.tenant.id, type: 'consent.revoked', clientId, subject: live.user.id, ip: req.ip });
      return accountStatusPage(reply, csrf, live, { done: `${name} no longer has access to your account.` });
    });

    if (lk.config.demo && !contextOf) {
      scope.get('/demo/callback', (req, reply) => {
        void htmlHeaders(reply).send(demoCallbackPage(pageBase(reply), new URLSearchParams(rawQuery(req))));
      });
    }
  });
}
