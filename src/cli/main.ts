import { readFileSync, existsSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { clientToJson } from '../engine/client-metadata.js';
import { OAuthError } from '../engine/errors.js';
import { Latchkey } from '../server/latchkey.js';
import { registerClient } from '../services/clients.js';
import { createUser, UserInputError } from '../services/users.js';
import { SIGNING_ALGS, type SigningAlg } from '../tokens/jwt.js';
import { DEFAULT_TENANT } from '../store/types.js';
import { performLogout } from '../engine/logout.js';
import { serve } from './serve.js';

const USAGE = `usage: latchkey <command> [options]

  init                              create the data folder, key-encryption key, database and signing keys
  serve [--port N] [--host H] [--workers N]
                                    start the server (creates a demo client and user on a fresh database);
                                    --workers N: N processes on the shared port (default: one per core)
  migrate                           apply database migrations and exit
  cleanup                           delete expired codes, tickets, tokens, sessions now (serve does it periodically)
  client create [--file F|-] [--client-id ID] [--secret S] [--name N] [--redirect-uri U]... [--public]
                [--grant G]... [--scope "a b"] [--skip-consent] [--require-pkce]
  client list | show ID | delete ID
  user create --username U --password P [--claims JSON] [--id SUB]
  user list | delete ID
  keys list | rotate [--alg ES256|RS256|PS256|EdDSA]...
  session list --user SUB | end SID   (ending a session notifies its clients, back-channel)

Common options: --config FILE, --json (machine-readable output).`;

export class CliError extends Error {}

interface Out {
  json: boolean;
  print(human: string, data: unknown): void;
}

function makeOut(json: boolean): Out {
  return {
    json,
    print(human, data) {
      process.stdout.write(json ? JSON.stringify(data, null, 2) + '\n' : human + '\n');
    },
  };
}

async function withLatchkey<T>(config: Config, fn: (lk: Latchkey) => Promise<T>, opts: { migrate?: boolean } = {}): Promise<T> {
  const lk = await Latchkey.open({ config, migrate: opts.migrate });
  try {
    return await fn(lk);
  } finally {
    await lk.close();
  }
}

function readJsonInput(file: string): unknown {
  const text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CliError(`${file === '-' ? 'stdin' : file} is not valid JSON: ${(e as Error).message}`);
  }
}

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      port: { type: 'string' },
      host: { type: 'string' },
      workers: { type: 'string' },
      file: { type: 'string' },
      'client-id': { type: 'string' },
      secret: { type: 'string' },
      name: { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true },
      grant: { type: 'string', multiple: true },
      scope: { type: 'string' },
      public: { type: 'boolean' },
      'skip-consent': { type: 'boolean' },
      'require-pkce': { type: 'boolean' },
      username: { type: 'string' },
      user: { type: 'string' },
      password: { type: 'string' },
      claims: { type: 'string' },
      id: { type: 'string' },
      alg: { type: 'string', multiple: true },
    },
  });
  const [cmd, sub, arg] = positionals;
  if (values.help || !cmd) {
    process.stdout.write(USAGE + '\n');
    return cmd || values.help ? 0 : 2;
  }
  const out = makeOut(values.json!);
  const config = loadConfig({
    file: values.config,
    overrides: {
      ...(values.port !== undefined ? { port: values.port } : {}),
      ...(values.host !== undefined ? { host: values.host } : {}),
      ...(values.workers !== undefined ? { workers: values.workers } : {}),
    },
  });

  switch (cmd) {
    case 'serve':
      await serve(config);
      return 0;
    case 'init': {
      if (!existsSync('latchkey.config.json') && !values.config) {
        writeFileSync('latchkey.config.json', JSON.stringify({ issuer: config.issuer, port: config.port, dataDir: config.dataDir }, null, 2) + '\n');
      }
      return withLatchkey(config, async (lk) => {
        const keys = await lk.keys.list(DEFAULT_TENANT);
        out.print(`initialised: issuer ${config.issuer}, ${keys.length} signing keys, data in ${config.dataDir}`, {
          issuer: config.issuer,
          keys: keys.map((k) => ({ kid: k.kid, alg: k.alg, status: k.status })),
        });
        return 0;
      }, { migrate: true });
    }
    case 'migrate':
      // Always migrates, whatever migrateOnStart says: this is the explicit step.
      return withLatchkey(config, async () => {
        out.print('database is up to date', { ok: true });
        return 0;
      }, { migrate: true });
    case 'cleanup':
      return withLatchkey(config, async (lk) => {
        const deleted = await lk.cleanup.sweep();
        out.print(Object.entries(deleted).map(([t, n]) => `${t}\t${n}`).join('\n'), { deleted });
        return 0;
      });
    case 'client':
      return withLatchkey(config, (lk) => clientCommand(lk, sub, arg, values, out));
    case 'user':
      return withLatchkey(config, (lk) => userCommand(lk, sub, arg, values, out));
    case 'keys':
      return withLatchkey(config, (lk) => keysCommand(lk, sub, values, out));
    case 'session':
      return withLatchkey(config, (lk) => sessionCommand(lk, sub, arg, values, out));
    default:
      throw new CliError(`unknown command ${cmd}; try latchkey --help`);
  }
}

type Values = Record<string, string | boolean | string[] | undefined>;

async function clientCommand(lk: Latchkey, sub: string | undefined, arg: string | undefined, v: Values, out: Out): Promise<number> {
  const ctx = await lk.context(DEFAULT_TENANT);
  switch (sub) {
    case 'create': {
      const base = (v.file ? readJsonInput(v.file as string) : {}) as Record<string, unknown>;
      if (typeof base !== 'object' || base === null || Array.isArray(base)) throw new CliError('client metadata must be a JSON object');
      const meta: Record<string, unknown> = { ...base };
      if (v['client-id']) meta.client_id = v['client-id'];
      if (v.secret) meta.client_secret = v.secret;
      if (v.name) meta.client_name = v.name;
      if (v['redirect-uri']) meta.redirect_uris = v['redirect-uri'];
      if (v.grant) meta.grant_types = v.grant;
      if (v.scope) meta.scope = v.scope;
      if (v.public) meta.token_endpoint_auth_method = 'none';
      if (v['skip-consent']) meta.skip_consent = true;
      if (v['require-pkce']) meta.require_pkce = true;
      if (meta.grant_types === undefined && meta.redirect_uris === undefined && !v.file) meta.grant_types = ['client_credentials'];
      const { json } = await registerClient(ctx, meta);
      out.print(JSON.stringify(json, null, 2) + (json.client_secret ? '\n(the client_secret is shown only this once)' : ''), json);
      return 0;
    }
    case 'list': {
      const clients = await lk.store.listClients(DEFAULT_TENANT);
      out.print(clients.map((c) => `${c.clientId}\t${c.clientName ?? ''}\t${c.tokenEndpointAuthMethod}\t${c.grantTypes.join(',')}`).join('\n') || '(no clients)', clients.map(clientToJson));
      return 0;
    }
    case 'show': {
      if (!arg) throw new CliError('client show needs a client_id');
      const c = await lk.store.findClient(DEFAULT_TENANT, arg);
      if (!c) throw new CliError(`no client ${arg}`);
      out.print(JSON.stringify(clientToJson(c), null, 2), clientToJson(c));
      return 0;
    }
    case 'delete': {
      if (!arg) throw new CliError('client delete needs a client_id');
      if (!(await lk.store.deleteClient(DEFAULT_TENANT, arg))) throw new CliError(`no client ${arg}`);
      out.print(`deleted client ${arg}`, { deleted: arg });
      return 0;
    }
    default:
      throw new CliError('usage: latchkey client create|list|show|delete');
  }
}

async function userCommand(lk: Latchkey, sub: string | undefined, arg: string | undefined, v: Values, out: Out): Promise<number> {
  const ctx = await lk.context(DEFAULT_TENANT);
  switch (sub) {
    case 'create': {
      if (!v.username || !v.password) throw new CliError('user create needs --username and --password');
      let claims: unknown = {};
      if (v.claims) {
        try {
          claims = JSON.parse(v.claims as string);
        } catch {
          throw new CliError('--claims must be a JSON object of OIDC standard claims');
        }
      }
      const u = await createUser(ctx, { username: v.username as string, password: v.password as string, claims, id: v.id as string | undefined });
      out.print(`created user ${u.username} (sub ${u.id})`, { sub: u.id, username: u.username, claims: u.claims });
      return 0;
    }
    case 'list': {
      const users = await lk.store.listUsers(DEFAULT_TENANT);
      out.print(users.map((u) => `${u.id}\t${u.username}${u.disabled ? '\t(disabled)' : ''}`).join('\n') || '(no users)',
        users.map((u) => ({ sub: u.id, username: u.username, disabled: u.disabled, claims: u.claims })));
      return 0;
    }
    case 'delete': {
      if (!arg) throw new CliError('user delete needs a user id (sub)');
      if (!(await lk.store.deleteUser(DEFAULT_TENANT, arg))) throw new CliError(`no user ${arg}`);
      out.print(`deleted user ${arg}`, { deleted: arg });
      return 0;
    }
    default:
      throw new CliError('usage: latchkey user create|list|delete');
  }
}

async function keysCommand(lk: Latchkey, sub: string | undefined, v: Values, out: Out): Promise<number> {
  const show = (ks: Awaited<ReturnType<typeof lk.keys.list>>) => ks.map((k) => ({ kid: k.kid, alg: k.alg, status: k.status, created_at: k.createdAt }));
  switch (sub) {
    case 'list': {
      const ks = await lk.keys.list(DEFAULT_TENANT);
      out.print(ks.map((k) => `${k.kid}\t${k.alg}\t${k.status}`).join('\n'), show(ks));
      return 0;
    }
    case 'rotate': {
      const algs = (v.alg as string[] | undefined) ?? [...SIGNING_ALGS];
      for (const a of algs) if (!(SIGNING_ALGS as readonly string[]).includes(a)) throw new CliError(`unknown alg ${a}; one of ${SIGNING_ALGS.join(', ')}`);
      const added = await lk.keys.rotate(DEFAULT_TENANT, algs as SigningAlg[]);
      out.print(added.map((k) => `new active key ${k.kid} (${k.alg}); the previous one stays published`).join('\n'), show(added));
      return 0;
    }
    default:
      throw new CliError('usage: latchkey keys list|rotate');
  }
}

async function sessionCommand(lk: Latchkey, sub: string | undefined, arg: string | undefined, v: Values, out: Out): Promise<number> {
  const ctx = await lk.context(DEFAULT_TENANT);
  switch (sub) {
    case 'list': {
      if (!v.user) throw new CliError('session list needs --user SUB');
      const sessions = await lk.store.listSessionsBySubject(DEFAULT_TENANT, v.user as string, Math.floor(lk.clock() / 1000));
      const rows = await Promise.all(
        sessions.map(async (s) => ({
          sid: s.sid, auth_time: s.authTime, last_seen_at: s.lastSeenAt, expires_at: s.expiresAt,
          clients: [...new Set((await lk.store.listGrantsBySid(DEFAULT_TENANT, s.sid)).map((g) => g.clientId))],
        })),
      );
      out.print(rows.map((r) => `${r.sid}\tauth ${new Date(r.auth_time * 1000).toISOString()}\t${r.clients.join(',')}`).join('\n') || '(no live sessions)', rows);
      return 0;
    }
    case 'end': {
      if (!arg) throw new CliError('session end needs a sid');
      const outcome = await performLogout(ctx, arg);
      if (!outcome.ended) throw new CliError(`no live session ${arg}`);
      await lk.backchannel.deliver(outcome.backchannel, 10_000);
      out.print(`ended session ${arg}; notified ${outcome.backchannel.length} client(s) by back-channel`, { ended: arg, backchannel: outcome.backchannel.length });
      return 0;
    }
    default:
      throw new CliError('usage: latchkey session list --user SUB | end SID');
  }
}

/** Entry point: one clear line and a non-zero exit on bad input, never a stack trace. */
export async function run(argv: string[]): Promise<void> {
  try {
    process.exitCode = await main(argv);
  } catch (e) {
    if (e instanceof CliError || e instanceof ConfigError || e instanceof UserInputError) {
      process.stderr.write(`latchkey: ${e.message}\n`);
      process.exitCode = 2;
    } else if (e instanceof OAuthError) {
      process.stderr.write(`latchkey: ${e.code}: ${e.description}\n`);
      process.exitCode = 2;
    } else if (e instanceof TypeError && (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`latchkey: ${e.message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`latchkey: ${(e as Error).message ?? String(e)}\n`);
      process.exitCode = 1;
    }
  }
}
