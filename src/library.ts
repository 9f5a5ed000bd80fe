import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyReply } from 'fastify';
import { auditIssuedConsent } from './audit/audit.js';
import { ConfigError, validateConfig } from './config/load.js';
import type { Config, ConfigInput } from './config/schema.js';
import type { AccountSource } from './engine/accounts.js';
import { authorizationFail, authorizationIssue, loadTicket, namesAnotherLocalUser, type AuthorizationIssueInput, type AuthorizationResult, type FailReason } from './engine/authorization/index.js';
import { requestedClaimNames } from './engine/claims.js';
import { consentRequiredFor } from './engine/consent.js';
import { nowSeconds, type EngineContext } from './engine/context.js';
import { internalErrorResult, type EngineLogger, type Result } from './engine/result.js';
import { sendResult, toHttp } from './http/adapt.js';
import { buildApp, installCommon, serverOptions, type AppOptions } from './http/app.js';
import { registerProtocolRoutes } from './http/mount.js';
import type { BackchannelOptions } from './services/backchannel.js';
import { Latchkey } from './server/latchkey.js';
import { DEFAULT_TENANT, type Store } from './store/types.js';
import type { RandomSource } from './tokens/handles.js';

type Awaitable<T> = T | Promise<T>;

/** Claims of one of your users (OIDC Core §5.1 names: name, email, email_verified, …); `sub` is filled in. */
export type AccountClaims = Record<string, unknown>;

export interface CreateLatchkeyOptions {
  /**
   * The configuration: the same options as the config file and the LATCHKEY_* variables (docs/configuration.md),
   * checked by the same schema. `issuer` is the public URL Latchkey answers at, e.g. `https://app.example.com/auth`;
   * its path is where the routes are mounted. `demo` defaults to false here.
   */
  config: ConfigInput;
  /**
   * Your user lookup: the claims of the account with this `sub`, or null when there is none (or it is disabled).
   * With it, Latchkey's users table is not used for the default tenant: ID tokens, UserInfo and the sign-in pages
   * read your accounts.
   */
  findAccount?: (sub: string) => Awaitable<AccountClaims | null | undefined>;
  /**
   * Your password check, for the built-in sign-in page and the password grant: the account's `sub`, or null.
   * Needs findAccount. Without it (and with findAccount), only your own pages (interactionUrl) can sign users in.
   */
  authenticate?: (username: string, password: string) => Awaitable<string | null | undefined>;
  /**
   * Your own sign-in/consent page instead of Latchkey's: the authorization endpoint redirects the browser to
   * `<interactionUrl>?ticket=…`; read the request with `interaction(ticket)`, sign the user in, then answer with
   * `respond(res, await issue({ ticket, subject }))` (or `fail`).
   */
  interactionUrl?: string;
  /** Engine failures are logged here (default: the Fastify app's logger once mounted). */
  log?: EngineLogger;
  /** Run the cleanup of expired rows and back-channel logout retries in this process (default true). */
  backgroundJobs?: boolean;
  /** Apply pending database migrations at start (default: config.migrateOnStart). */
  migrate?: boolean;
  /** For tests: time, randomness, a store, key re-validation interval, back-channel delivery options. */
  clock?: () => number;
  random?: RandomSource;
  store?: Store;
  keyRecheckMs?: number;
  backchannel?: BackchannelOptions;
}

/** What a pending authorization request asks for: what your own sign-in/consent page shows. */
export interface InteractionDetails {
  ticket: string;
  client: { clientId: string; clientName?: string; logoUri?: string; clientUri?: string };
  scopes: string[];
  /** User claims asked for by name (OIDC Core §5.5), besides those the scopes release. */
  claims: string[];
  /** OIDC Core §3.1.2.1: `none` means answer without any page (issue for a signed-in user, else fail LOGIN_REQUIRED). */
  prompt: string[];
  maxAge?: number;
  loginHint?: string;
  /**
   * The sub an id_token_hint (or a claims sub value) named, as the client knows the user: for a pairwise client
   * (OIDC Core §8.1) that is not your user id. Compare `expectedSubject`, or ask `namesAnotherUser(ticket, id)`.
   */
  idTokenHintSub?: string;
  /**
   * Your user id (the `subject` you pass to issue) that id_token_hint or a claims sub names: the user must be that
   * one. Absent when the request names nobody, or names a pairwise sub Latchkey cannot trace back (no sid in the
   * hint, or a claims sub alone): then use `namesAnotherUser`.
   */
  expectedSubject?: string;
  acrValues?: string[];
  uiLocales?: string[];
  /** RFC 9396: the authorization details asked for; show them, and pass the approved ones to issue (authorizationDetails). */
  authorizationDetails?: Record<string, unknown>[];
  redirectUri: string;
  /**
   * Ask the user for consent before issue (then pass `consentGiven: true`, which records it); with prompt `none`,
   * fail with CONSENT_REQUIRED instead. The built-in consent page's rule: false for a client registered with
   * skip_consent; true with prompt=consent; otherwise true unless the consent of the `subject` given to
   * `interaction(ticket, subject)` covers the scopes and claims asked for (without a subject: as for a user who gave none).
   */
  consentRequired: boolean;
}

/** A step-two answer (issue/fail) to send to the browser: a redirect to the client, an auto-submitting form, or an error. */
export type InteractionResult = AuthorizationResult;

export type NodeHandler = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void;

export interface LatchkeyInstance {
  readonly config: Config;
  readonly issuer: string;
  /** The issuer's path ('' at the root of the host): where the routes are mounted. */
  readonly mountPath: string;
  /** The running core (store, keys, tenants): for the engine functions and the provisioning services. */
  readonly latchkey: Latchkey;
  /**
   * A Fastify plugin: `await app.register(auth.plugin)` (or with `{ prefix: auth.mountPath }`). The routes go under
   * the issuer's path; the RFC 8414 metadata at `/.well-known/oauth-authorization-server<path>` at the root.
   */
  readonly plugin: FastifyPluginAsync<{ prefix?: string }>;
  /**
   * A `(req, res, next?)` handler for node:http, Express or Connect. Requests none of Latchkey's routes serves
   * (outside the issuer's path and its RFC 8414 metadata URL, or under them with no route) go to `next`
   * untouched (404 without one). Mount it before any body parser.
   */
  readonly handler: NodeHandler;
  /** The default tenant's engine context, for calling the engine functions directly. */
  context(): Promise<EngineContext>;
  /**
   * A pending authorization request (your own sign-in page), or undefined when the ticket is unknown or expired.
   * `subject`: your signed-in user, once you know them: consentRequired then counts the consent they gave.
   */
  interaction(ticket: string, subject?: string): Promise<InteractionDetails | undefined>;
  /**
   * Step two, success: the user `subject` signed in (authTime defaults to now). `consentGiven: true`: they consented
   * on your page; the consent is recorded for the granted scopes.
   */
  issue(input: Omit<AuthorizationIssueInput, 'authTime'> & { authTime?: number }): Promise<InteractionResult>;
  /** Step two, failure (ACCESS_DENIED, LOGIN_REQUIRED, CONSENT_REQUIRED, …). */
  fail(ticket: string, reason: FailReason): Promise<InteractionResult>;
  /**
   * Whether the pending request names (id_token_hint, claims sub: OIDC Core §3.1.2.1, §5.5.1) a user other than
   * your user `subject`, pairwise subs included; true: sign that user in instead (prompt=none: fail LOGIN_REQUIRED),
   * as issue would refuse it. Undefined when the ticket is unknown or expired.
   */
  namesAnotherUser(ticket: string, subject: string): Promise<boolean | undefined>;
  /** Send an engine Result on a node:http/Express response or a Fastify reply. */
  respond(target: ServerResponse | FastifyReply, result: Result): void;
  /** The standalone server's Fastify app (`latchkey serve` uses this): every route, admin and Core API included. */
  server(opts?: AppOptions): Promise<FastifyInstance>;
  close(): Promise<void>;
}

/** The issuer's path, where an embedding app mounts the routes ('' for an issuer at the root of its host). */
export function issuerPath(issuer: string): string {
  const p = new URL(issuer).pathname;
  return p === '/' ? '' : p;
}

/**
 * A configured Latchkey to run inside your application (docs/library.md). It opens the database (migrating it),
 * creates the default tenant and its keys on first start, and gives a Fastify plugin and a node:http handler that
 * serve the same routes as `latchkey serve`, built by the same functions.
 */
export async function createLatchkey(options: CreateLatchkeyOptions): Promise<LatchkeyInstance> {
  const config = validateConfig({ demo: false, ...options.config });
  if (options.authenticate && !options.findAccount) throw new ConfigError('authenticate needs findAccount: the claims of the account it returns');
  if (options.findAccount && config.allowRegistration) {
    throw new ConfigError('allowRegistration creates accounts in Latchkey\'s users table; with findAccount your application owns the accounts');
  }
  if (options.interactionUrl !== undefined && !/^(https?:\/\/|\/)/.test(options.interactionUrl)) {
    throw new ConfigError('interactionUrl must be an absolute http(s) URL or a path starting with /');
  }
  const accounts: AccountSource | undefined = options.findAccount
    ? {
        findAccount: async (sub) => (await options.findAccount!(sub)) ?? undefined,
        ...(options.authenticate ? { authenticate: async (u: string, p: string) => (await options.authenticate!(u, p)) ?? null } : {}),
      }
    : undefined;
  const lk = await Latchkey.open({
    config,
    log: options.log,
    clock: options.clock,
    random: options.random,
    store: options.store,
    migrate: options.migrate,
    keyRecheckMs: options.keyRecheckMs,
    backchannel: options.backchannel,
    accounts,
  });
  const mountPath = issuerPath(config.issuer);
  const ui = { interactionUrl: options.interactionUrl };
  if (options.backgroundJobs !== false) {
    lk.backchannel.start();
    lk.cleanup.start();
  }

  const plugin: FastifyPluginAsync<{ prefix?: string }> = async (app, opts) => {
    // Registered without encapsulation (below), so `prefix` is ours to apply: it must be the issuer's path.
    const outer = app.prefix;
    const wanted = outer + (opts.prefix ?? '');
    if ((wanted !== outer && wanted !== mountPath) || !mountPath.startsWith(outer)) {
      throw new ConfigError(`Latchkey's routes go under its issuer's path (${mountPath || '/'}): register the plugin with no prefix or with { prefix: '${mountPath}' }`);
    }
    if (!options.log) lk.setLogger(app.log);
    await app.register(async (scope) => {
      installCommon(scope, lk);
      // RFC 8414 §3.1 metadata lives at the host's root: only possible when mounted from the root.
      await registerProtocolRoutes(scope, lk, { mountPath: mountPath.slice(outer.length), oauthMetadataRoutes: outer === '', ui });
    });
  };
  // Like fastify-plugin: run in the caller's context, so the prefix option is not applied twice.
  Object.assign(plugin, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'latchkey' });

  let handlerApp: Promise<{ app: FastifyInstance; route: (req: IncomingMessage, res: ServerResponse) => void }> | undefined;
  /** The host's `next` of a request being routed: a path none of Latchkey's routes serves goes back to it. */
  const fallthrough = new WeakMap<IncomingMessage, () => void>();
  const buildHandlerApp = async () => {
    let route!: (req: IncomingMessage, res: ServerResponse) => void;
    const app = Fastify({
      ...serverOptions(lk),
      serverFactory: (h) => {
        route = h;
        return createServer();
      },
    }) as unknown as FastifyInstance;
    // No route of ours matched (an issuer at the host's root takes every path): the host's app answers, before
    // anything (a body parser, a hook) has touched the request.
    app.addHook('onRequest', (req, reply, done) => {
      const next = req.is404 ? fallthrough.get(req.raw) : undefined;
      if (!next) return done();
      reply.hijack();
      next();
    });
    app.setNotFoundHandler((_req, reply) => {
      void reply.code(404).type('application/json').send(JSON.stringify({ error: 'not_found', error_description: 'no such endpoint' }));
    });
    try {
      await app.register(plugin);
      await app.ready();
    } catch (e) {
      await app.close().catch(() => undefined);
      throw e;
    }
    return { app, route };
  };
  const metadataPath = `/.well-known/oauth-authorization-server${mountPath}`;
  const ours = (path: string) =>
    mountPath === '' || path === mountPath || path.startsWith(mountPath + '/') || path === metadataPath || path.startsWith(metadataPath + '/');
  const handler: NodeHandler = (req, res, next) => {
    // Express strips its own mount path from req.url; the full path is what the routes (and the issuer) know.
    const url = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
    const q = url.indexOf('?');
    if (!ours(q >= 0 ? url.slice(0, q) : url)) {
      if (next) return next();
      res.statusCode = 404;
      res.end();
      return;
    }
    const hostUrl = req.url;
    req.url = url;
    if (next) {
      fallthrough.set(req, () => {
        req.url = hostUrl; // as the host's router had it (Express strips its mount path)
        next();
      });
    }
    const building = (handlerApp ??= buildHandlerApp());
    building.then(
      ({ route }) => route(req, res),
      (e: unknown) => {
        // Not remembered: the next request builds again (a database that was away at first may be back).
        if (handlerApp === building) handlerApp = undefined;
        (options.log ?? console).error({ err: e }, 'latchkey: could not build the request handler');
        if (res.headersSent) return void res.end();
        // The engine's own answer for a failure (a generic body, 503 + Retry-After when the database is away).
        const answer = toHttp(internalErrorResult('INTERNAL_SERVER_ERROR', e));
        res.writeHead(answer.status, answer.headers);
        res.end(answer.body);
      },
    );
  };

  const context = () => lk.context(DEFAULT_TENANT);
  return {
    config,
    issuer: config.issuer,
    mountPath,
    latchkey: lk,
    plugin,
    handler,
    context,
    async interaction(ticket, subject) {
      const ctx = await context();
      const t = await loadTicket(ctx, ticket);
      if (!t) return undefined;
      const r = t.request;
      return {
        ticket,
        client: { clientId: t.client.clientId, clientName: t.client.clientName, logoUri: t.client.logoUri, clientUri: t.client.clientUri },
        scopes: r.scope,
        claims: requestedClaimNames(r.claims),
        prompt: r.prompt,
        maxAge: r.maxAge,
        loginHint: r.loginHint,
        idTokenHintSub: r.idTokenHintSub ?? r.claimsSub,
        expectedSubject: r.expectedSubject,
        acrValues: r.acrValues,
        uiLocales: r.uiLocales,
        authorizationDetails: r.authorizationDetails,
        redirectUri: r.redirectUri,
        consentRequired: await consentRequiredFor(ctx, r, t.client, subject),
      };
    },
    async issue(input) {
      const ctx = await context();
      const issued = await authorizationIssue({ ...input, authTime: input.authTime ?? nowSeconds(ctx) }, ctx);
      auditIssuedConsent(lk.audit, ctx.tenant.id, issued, { via: 'library' }); // consent.granted, as the built-in consent page writes it
      return issued;
    },
    async fail(ticket, reason) {
      return authorizationFail({ ticket, reason }, await context());
    },
    async namesAnotherUser(ticket, subject) {
      const ctx = await context();
      const t = await loadTicket(ctx, ticket);
      return t && namesAnotherLocalUser(ctx, t, subject); // the rule issue applies
    },
    respond(target, result) {
      if ('raw' in target) {
        void sendResult(target, result);
        return;
      }
      const answer = toHttp(result);
      target.writeHead(answer.status, answer.headers);
      target.end(answer.body);
    },
    server: (opts) => buildApp(lk, opts),
    async close() {
      if (handlerApp) await (await handlerApp.catch(() => undefined))?.app.close();
      await lk.close();
    },
  };
}
