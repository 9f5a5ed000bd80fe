import { auditEventView, type AuditEventInput } from '../audit/audit.js';
import { listAuditEvents, parseAuditQuery } from '../services/audit.js';
import { readFileSync, existsSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import cluster from 'node:cluster';
import { ConfigError, loadConfig } from '../config/load.js';
import { readSecretFile } from '../config/secret-file.js';
import { jsonSyntaxProblem } from '../ops/json-error.js';
import type { Config } from '../config/schema.js';
import { OAuthError } from '../engine/errors.js';
import { databaseLocation, databaseUrlOf, Latchkey } from '../server/latchkey.js';
import { masterKeyFile } from '../keys/master-key.js';
import { clientView, deleteClient, getClient, listClients, registerClient, replaceClient, rotateClientSecret } from '../services/clients.js';
import { ServiceError } from '../services/errors.js';
import { keyView, listKeys, retireKey, rotateKeys } from '../services/keys.js';
import {
  createAdminToken,
  createInitialAccessToken,
  listManagementTokens,
  managementTokenView,
  revokeManagementToken,
} from '../services/management-tokens.js';
import { createTenant, getTenant, listTenants, tenantContext, tenantView } from '../services/tenants.js';
import {
  createUser,
  deleteUser,
  endBrowserSession,
  getUser,
  liveSessionsOf,
  listUsers,
  setDisabled,
  unlockUser,
  resetUserMfa,
  removeUserSecurityKey,
  setPassword,
  updateUser,
  userDetails,
  userView,
  UserInputError,
} from '../services/users.js';
import { registerResourceServer, resourceServerToJson, storedResourceServer, storedResourceServers, updateResourceServer } from '../services/resources.js';
import { DEFAULT_TENANT } from '../store/types.js';
import { createServiceToken, listServiceTokens, revokeServiceToken, serviceTokenView } from '../services/service-tokens.js';

export const USAGE = `usage: latchkey <command> [options]

  init                              create the data folder, key-encryption key, database and signing keys
  serve [--port N] [--host H] [--workers N]
                                    start the server (a fresh database with a loopback issuer gets a demo
                                    client and user: the demo option); refuses an http issuer off loopback;
                                    --workers N: N processes on the shared port (default: one per core)
  migrate                           apply database migrations and exit
  cleanup                           delete expired codes, tickets, tokens, sessions now (serve does it periodically)
  client create [--file F|-] [--client-id ID] [--secret S | --secret-file F|-] [--name N] [--redirect-uri U]...
                [--public] [--grant G]... [--scope "a b"] [--skip-consent] [--require-pkce] [--auth-method M]
                [--jwks-uri U] [--cors-origin O]...
  client list | show ID | delete ID
  client update ID --file F|-                 replace the metadata (the secret is kept)
  client rotate-secret ID [--grace SECONDS]   new secret; the old one works for SECONDS more (default 0)
  user create --username U (--password P | --password-file F|-) [--claims JSON] [--id SUB]
  user list | show SUB | delete SUB | disable SUB | enable SUB
  user unlock SUB                   forget failed sign-ins of a locked account (docs/security.md)
  user reset-mfa SUB                turn off two-step sign-in (a lost authenticator app; docs/security.md)
  user remove-key SUB --key ID      remove one security key (a lost one; ID from user show's mfa.security_keys)
  user update SUB [--username U] [--claims JSON]
  user set-password SUB (--password P | --password-file F|-)
  keys list | rotate [--alg ES256|RS256|PS256|EdDSA]... [--now] | retire KID [--force]
                                    rotate: the new keys are published at once and sign after keyActivationDelay;
                                    --now signs at once (compromised key: what it signs fails to verify at
                                    instances and relying parties until they fetch the JWKS again)
                                    retire: only once its successor has signed for the longest token lifetime
                                    (tokens it signed have expired); --force retires it at once (compromised key)
  tenant list | create ID [--issuer URL]
  admin-token create [--name N] [--expires-in SECONDS] | list | revoke ID
  registration-token create [--name N] [--expires-in SECONDS] [--uses N] | list | revoke ID
                                    initial access tokens for dynamic client registration (RFC 7591)
  resource create (--identifier URI | --file F|-) [--scope "a b"] [--name N] [--format opaque|jwt] [--ttl SECONDS]
                  [--introspection-client CLIENT_ID]...   only these clients introspect its tokens (RFC 7662 §4)
  resource update URI [--file F|-] [same options as create]   replace its metadata: the file's (or the current
                                    one), with the options on top
  resource list | show URI | delete URI   resource servers (RFC 8707): what clients may name as resource
  session list --user SUB | end SID   (ending a session notifies its clients, back-channel)
  service create ID [--issuer URL] | list          services (tenants) for the Core API; --issuer: the app fronting
                                    it, or a proxy host mapped onto /t/ID (outside this server's issuer)
  service-token create [--service ID] [--name N] | list | revoke ID   Core API access tokens
  audit list [--type T] [--since TIME] [--limit N]   security events, newest first (docs/audit.md)

Common options: --config FILE, --json (machine-readable output); for client, user, keys, resource,
registration-token and audit commands --tenant ID (default: default).

--password and --secret are visible to other users of this machine (ps, /proc) and stay in your shell history:
prefer --password-file / --secret-file, a file (mode 0600) or - for standard input; trailing line breaks are dropped
(as for LATCHKEY_<NAME>_FILE; no usable password or secret ends with one).`;

export class CliError extends Error {}

interface Out {
  json: boolean;
  print(human: string, data: unknown): void;
}

/** What a write command did, from the operation's own result (never from what it printed), for its audit event. */
export interface CliWrite {
  /** The id of what a create made (client_id, sub, token id, resource identifier). */
  created?: string;
  /** keys rotate: the kids of the new keys. */
  kids?: string[];
}

function makeOut(json: boolean): Out {
  return {
    json,
    print(human, data) {
      process.stdout.write(json ? JSON.stringify(data, null, 2) + '\n' : human + '\n');
    },
  };
}

/** The CLI commands that change something, by command and subcommand. */
const CLI_WRITES: Readonly<Record<string, readonly string[]>> = {
  client: ['create', 'update', 'rotate-secret', 'delete'],
  user: ['create', 'update', 'set-password', 'disable', 'enable', 'unlock', 'reset-mfa', 'remove-key', 'delete'],
  keys: ['rotate', 'retire'],
  tenant: ['create'],
  service: ['create'],
  'admin-token': ['create', 'revoke'],
  'registration-token': ['create', 'revoke'],
  resource: ['create', 'update', 'delete'],
  session: ['end'],
  'service-token': ['create', 'revoke'],
};

/**
 * The audit event of a successful CLI write: `admin.action` with `detail.source: "cli"`, the command and the id it
 * acted on: the argument, or the id of what it created as the command reported it (CliWrite), never a secret.
 */
export function cliAuditEvent(cmd: string | undefined, sub: string | undefined, arg: string | undefined, v: Values, write: CliWrite): AuditEventInput | undefined {
  if (!cmd || !sub || !CLI_WRITES[cmd]?.includes(sub)) return undefined;
  let tenantId = tenantOf(v);
  let target = arg ?? write.created;
  let clientId: string | null = null;
  let subject: string | null = null;
  const detail: Record<string, unknown> = { source: 'cli', command: `${cmd} ${sub}` };
  switch (cmd) {
    case 'client':
      clientId = target ?? null;
      break;
    case 'user':
      subject = target ?? null;
      break;
    case 'keys':
      if (write.kids) detail.kids = write.kids;
      break;
    case 'tenant':
    case 'service':
      tenantId = arg ?? tenantId;
      break;
    case 'admin-token':
      tenantId = DEFAULT_TENANT;
      break;
    case 'service-token':
      tenantId = (v.service as string | undefined) ?? DEFAULT_TENANT;
      break;
    case 'session':
      tenantId = DEFAULT_TENANT;
      break;
  }
  if (target) detail.target = target;
  return { tenantId, type: 'admin.action', clientId, subject, detail };
}

async function withLatchkey<T>(config: Config, fn: (lk: Latchkey) => Promise<T>, opts: { migrate?: boolean } = {}): Promise<T> {
  const lk = await Latchkey.open({ config, migrate: opts.migrate });
  try {
    return await fn(lk);
  } finally {
    await lk.close();
  }
}

/**
 * A secret given as --NAME VALUE or --NAME-file F (- = standard input), the file's trailing line breaks dropped
 * (readSecretFile: the rule of LATCHKEY_<NAME>_FILE too). A value on the command line is visible to other local
 * users (ps) and kept in shell history.
 */
function secretOption(v: Values, name: 'password' | 'secret'): string | undefined {
  const fileOption = `${name}-file`;
  const file = v[fileOption] as string | undefined;
  if (file === undefined) return v[name] as string | undefined;
  if (v[name] !== undefined) throw new CliError(`give --${name} or --${fileOption}, not both`);
  if (file === '-' && v.file === '-') throw new CliError(`--file and --${fileOption} cannot both read standard input`);
  let text: string;
  try {
    text = readSecretFile(file === '-' ? 0 : file);
  } catch (e) {
    throw new CliError(`cannot read --${fileOption} ${file}: ${(e as Error).message}`);
  }
  if (!text) throw new CliError(`--${fileOption} ${file === '-' ? '(standard input)' : file} is empty`);
  return text;
}

function readJsonInput(file: string): unknown {
  let text: string;
  try {
    text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read --file ${file}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CliError(`${file === '-' ? 'stdin' : file} is not valid JSON (${jsonSyntaxProblem(e)})`);
  }
}

/**
 * Ids are positionals, and a generated id (a key's RFC 7638 thumbprint, a random client id) may begin with '-':
 * node's parseArgs would read it as an option. Words that look like options but are not ours become positionals
 * (placed after `--`), and a value beginning with '-' after a string option is joined to it (`--opt=value`).
 */
export function separateIds(argv: string[], options: Record<string, { type: 'string' | 'boolean'; short?: string }>): string[] {
  const known = (a: string) => {
    if (a === '--') return true;
    const m = /^--([^=]+)/.exec(a);
    if (m) return Object.hasOwn(options, m[1]!);
    return a.length === 2 && Object.values(options).some((o) => o.short === a[1]);
  };
  const out: string[] = [];
  const ids: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      ids.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('-') && !known(a)) {
      ids.push(a);
      continue;
    }
    const name = /^--([^=]+)$/.exec(a)?.[1];
    const next = argv[i + 1];
    if (name && options[name]?.type === 'string' && next !== undefined && next.startsWith('-') && next !== '--') {
      out.push(`${a}=${next}`);
      i++;
      continue;
    }
    out.push(a);
  }
  return ids.length ? [...out, '--', ...ids] : out;
}

/**
 * The options each command reads, besides --config, --json and --help. Every option is parsed for every command
 * (one parseArgs), so without this a flag a command does not read was silently ignored: `client update ID --name N`
 * changed nothing, `session list --tenant T` listed the default tenant's sessions. A command or subcommand not
 * listed here is left to its own usage error.
 */
const TENANT = ['tenant'];
const CLIENT_METADATA = ['file', 'client-id', 'secret', 'secret-file', 'name', 'redirect-uri', 'public', 'grant', 'scope', 'skip-consent', 'require-pkce', 'auth-method', 'jwks-uri', 'cors-origin'];
const RESOURCE_METADATA = ['file', 'identifier', 'scope', 'name', 'format', 'ttl', 'introspection-client'];
export const COMMAND_OPTIONS: Readonly<Record<string, string[] | Readonly<Record<string, string[]>>>> = {
  serve: ['port', 'host', 'workers'],
  init: [],
  migrate: [],
  cleanup: [],
  client: {
    create: [...CLIENT_METADATA, ...TENANT], list: TENANT, show: TENANT, delete: TENANT, update: ['file', ...TENANT], 'rotate-secret': ['grace', ...TENANT],
  },
  user: {
    create: ['username', 'password', 'password-file', 'claims', 'id', ...TENANT], update: ['username', 'claims', ...TENANT],
    'set-password': ['password', 'password-file', ...TENANT], list: TENANT, show: TENANT, delete: TENANT, disable: TENANT, enable: TENANT, unlock: TENANT, 'reset-mfa': TENANT,
    'remove-key': ['key', ...TENANT],
  },
  keys: { list: TENANT, rotate: ['alg', 'now', ...TENANT], retire: ['force', ...TENANT] },
  tenant: { list: [], create: ['issuer'] },
  'admin-token': { create: ['name', 'expires-in'], list: [], revoke: [] },
  'registration-token': { create: ['name', 'expires-in', 'uses', ...TENANT], list: TENANT, revoke: [] },
  resource: { create: [...RESOURCE_METADATA, ...TENANT], update: [...RESOURCE_METADATA, ...TENANT], list: TENANT, show: TENANT, delete: TENANT },
  session: { list: ['user'], end: [] },
  service: { create: ['issuer'], list: [] },
  'service-token': { create: ['service', 'name'], list: [], revoke: [] },
  audit: { list: ['type', 'since', 'limit', ...TENANT] },
};
export const ALWAYS = new Set(['config', 'json', 'help']);

/**
 * The subcommands that take one argument (an id); every other command and subcommand takes none. An option that is
 * not ours is kept as a positional by separateIds (an id may begin with '-'), so without this count `serve --prot
 * 8080` started on the default port and `client delete ID --bogus` deleted: extra words were never looked at.
 */
const TAKES_ID: Readonly<Record<string, readonly string[]>> = {
  client: ['show', 'delete', 'update', 'rotate-secret'],
  user: ['show', 'delete', 'update', 'set-password', 'disable', 'enable', 'unlock', 'reset-mfa', 'remove-key'],
  keys: ['retire'],
  tenant: ['create'],
  'admin-token': ['revoke'],
  'registration-token': ['revoke'],
  resource: ['update', 'show', 'delete'],
  session: ['end'],
  service: ['create'],
  'service-token': ['revoke'],
};

/** Refuse a word the command would ignore: an unknown option, or an argument where it takes none (more). */
function checkPositionals(cmd: string, positionals: string[]): void {
  const entry = Object.hasOwn(COMMAND_OPTIONS, cmd) ? COMMAND_OPTIONS[cmd]! : undefined;
  if (!entry) throw new CliError(`unknown command ${cmd}; try latchkey --help`);
  const hasSubs = !Array.isArray(entry);
  const sub = positionals[1];
  // A missing or unknown subcommand is left to the command's own usage line.
  if (hasSubs && (sub === undefined || !Object.hasOwn(entry, sub))) return;
  const name = hasSubs ? `${cmd} ${sub}` : cmd;
  const expected = (hasSubs ? 2 : 1) + (hasSubs && TAKES_ID[cmd]?.includes(sub!) ? 1 : 0);
  const extra = positionals.slice(expected);
  if (extra.length === 0) return;
  const option = extra.find((w) => /^--?[A-Za-z]/.test(w));
  if (option) throw new CliError(`${name} does not take ${option.replace(/=.*/, '')}; see latchkey --help`);
  throw new CliError(`${name} takes ${expected === (hasSubs ? 2 : 1) ? 'no argument' : 'one argument'}, not also ${JSON.stringify(extra[0])}; see latchkey --help`);
}

/** Refuse an option the command would ignore (COMMAND_OPTIONS), naming it. */
function checkCommandOptions(cmd: string, sub: string | undefined, given: Record<string, unknown>): void {
  const entry = Object.hasOwn(COMMAND_OPTIONS, cmd) ? COMMAND_OPTIONS[cmd]! : undefined;
  const allowed = Array.isArray(entry) ? entry : entry && sub !== undefined && Object.hasOwn(entry, sub) ? entry[sub]! : undefined;
  if (!allowed) return;
  const name = Array.isArray(entry) ? cmd : `${cmd} ${sub}`;
  for (const [option, value] of Object.entries(given)) {
    if (value === undefined || ALWAYS.has(option) || allowed.includes(option)) continue;
    throw new CliError(`${name} does not take --${option}; see latchkey --help`);
  }
}

export async function main(argv: string[]): Promise<number> {
  const options = {
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
      'cors-origin': { type: 'string', multiple: true },
      grant: { type: 'string', multiple: true },
      scope: { type: 'string' },
      public: { type: 'boolean' },
      'skip-consent': { type: 'boolean' },
      'require-pkce': { type: 'boolean' },
      username: { type: 'string' },
      user: { type: 'string' },
      password: { type: 'string' },
      'password-file': { type: 'string' },
      'secret-file': { type: 'string' },
      claims: { type: 'string' },
      id: { type: 'string' },
      alg: { type: 'string', multiple: true },
      identifier: { type: 'string' },
      'introspection-client': { type: 'string', multiple: true },
      format: { type: 'string' },
      ttl: { type: 'string' },
      tenant: { type: 'string' },
      grace: { type: 'string' },
      'expires-in': { type: 'string' },
      uses: { type: 'string' },
      'auth-method': { type: 'string' },
      'jwks-uri': { type: 'string' },
      service: { type: 'string' },
      issuer: { type: 'string' },
      type: { type: 'string' },
      limit: { type: 'string' },
      since: { type: 'string' },
      now: { type: 'boolean' },
      force: { type: 'boolean' },
      key: { type: 'string' },
    } as const;
  const { values, positionals } = parseArgs({ args: separateIds(argv, options), allowPositionals: true, strict: true, options });
  const [cmd, sub, arg] = positionals;
  if (values.help || !cmd) {
    // Asked for (--help): the usage is the output. No command at all: it is the error message, on stderr.
    (values.help ? process.stdout : process.stderr).write(USAGE + '\n');
    return values.help ? 0 : 2;
  }
  checkCommandOptions(cmd, sub, values);
  checkPositionals(cmd, positionals);
  const out = makeOut(values.json!);
  // docs/audit.md: a successful CLI write is an audit event, like an admin API write (ids only, never secrets).
  const audited = (fn: (lk: Latchkey, write: CliWrite) => Promise<number>) =>
    withLatchkey(config, async (lk) => {
      const write: CliWrite = {};
      const rc = await fn(lk, write);
      if (rc === 0) {
        const e = cliAuditEvent(cmd, sub, arg, values, write);
        if (e) lk.audit.record(e);
      }
      return rc;
    });
  const config = loadConfig({
    file: values.config,
    overrides: {
      ...(values.port !== undefined ? { port: values.port } : {}),
      ...(values.host !== undefined ? { host: values.host } : {}),
      ...(values.workers !== undefined ? { workers: values.workers } : {}),
    },
  });

  // A command that only reads, run from the wrong folder (dataDir is relative: ./data), created a database and a
  // master.key there and answered "(no clients)". Only init, serve, migrate and writes create one.
  const readOnly = cmd === 'cleanup' || ((sub === 'list' || sub === 'show') && Object.hasOwn(COMMAND_OPTIONS, cmd));
  const url = databaseUrlOf(config);
  if (readOnly && url.startsWith('sqlite:') && url !== 'sqlite::memory:' && !existsSync(url.slice('sqlite:'.length))) {
    throw new CliError(
      `no database at ${url.slice('sqlite:'.length)}: run this where your data folder is, or set dataDir or databaseUrl (a new one is made by latchkey init)`,
    );
  }

  switch (cmd) {
    case 'serve':
      // Loaded here: the HTTP server (Fastify, the routes, the pages) is a third of a CLI process's start-up, and
      // every other command goes without it.
      await (await import('./serve.js')).serve(config);
      return 0;
    case 'init': {
      if (!existsSync('latchkey.config.json') && !values.config) {
        writeFileSync('latchkey.config.json', JSON.stringify({ issuer: config.issuer, port: config.port, dataDir: config.dataDir }, null, 2) + '\n');
      }
      return withLatchkey(config, async (lk) => {
        const keys = await lk.keys.list(DEFAULT_TENANT);
        // Where the data went: on PostgreSQL (with a configured keyEncryptionKey) nothing is in dataDir.
        const url = databaseUrlOf(config);
        const database = url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : databaseLocation(url);
        const keyFile = config.keyEncryptionKey === undefined ? `, key-encryption key in ${masterKeyFile(resolve(config.dataDir))}` : '';
        out.print(`initialised: issuer ${config.issuer}, ${keys.length} signing keys, database ${database}${keyFile}`, {
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
      return audited((lk, write) => clientCommand(lk, sub, arg, values, out, write));
    case 'user':
      return audited((lk, write) => userCommand(lk, sub, arg, values, out, write));
    case 'keys':
      return audited((lk, write) => keysCommand(lk, sub, arg, values, out, write));
    case 'tenant':
      return audited((lk) => tenantCommand(lk, sub, arg, values, out));
    case 'admin-token':
    case 'registration-token':
      return audited((lk, write) => tokenCommand(lk, cmd, sub, arg, values, out, write));
    case 'resource':
      return audited((lk, write) => resourceCommand(lk, sub, arg, values, out, write));
    case 'session':
      return audited((lk) => sessionCommand(lk, sub, arg, values, out));
    case 'service':
      return audited((lk) => serviceCommand(lk, sub, arg, values, out));
    case 'service-token':
      return audited((lk, write) => serviceTokenCommand(lk, sub, arg, values, out, write));
    case 'audit':
      return withLatchkey(config, (lk) => auditCommand(lk, sub, values, out));
    default:
      throw new CliError(`unknown command ${cmd}; try latchkey --help`);
  }
}

type Values = Record<string, string | boolean | string[] | undefined>;

const tenantOf = (v: Values) => (v.tenant as string | undefined) ?? DEFAULT_TENANT;

function intOption(v: Values, name: string): number | undefined {
  const raw = v[name] as string | undefined;
  if (raw === undefined) return undefined;
  if (!/^\d{1,10}$/.test(raw)) throw new CliError(`--${name} must be a non-negative integer`);
  return Number(raw);
}

function parseClaimsOption(v: Values): unknown {
  if (v.claims === undefined) return undefined;
  try {
    return JSON.parse(v.claims as string);
  } catch {
    throw new CliError('--claims must be a JSON object of OIDC standard claims');
  }
}

/* Every command goes through src/services/, the same operations the admin API runs. */

async function clientCommand(lk: Latchkey, sub: string | undefined, arg: string | undefined, v: Values, out: Out, write: CliWrite): Promise<number> {
  const ctx = await tenantContext(lk, tenantOf(v));
  const need = () => {
    if (!arg) throw new CliError(`client ${sub} needs a client_id`);
    return arg;
  };
  switch (sub) {
    case 'create': {
      const base = (v.file ? readJsonInput(v.file as string) : {}) as Record<string, unknown>;
      if (typeof base !== 'object' || base === null || Array.isArray(base)) throw new CliError('client metadata must be a JSON object');
      const meta: Record<string, unknown> = { ...base };
      if (v['client-id']) meta.client_id = v['client-id'];
      const secret = secretOption(v, 'secret');
      if (secret) meta.client_secret = secret;
      if (v.name) meta.client_name = v.name;
      if (v['redirect-uri']) meta.redirect_uris = v['redirect-uri'];
      if (v.grant) meta.grant_types = v.grant;
      if (v.scope) meta.scope = v.scope;
      if (v.public) meta.token_endpoint_auth_method = 'none';
      if (v['auth-method']) meta.token_endpoint_auth_method = v['auth-method'];
      if (v['jwks-uri']) meta.jwks_uri = v['jwks-uri'];
      if (v['cors-origin']) meta.allowed_cors_origins = v['cors-origin']; // CORS: the client's web origins (docs/clients.md)
      if (v['skip-consent']) meta.skip_consent = true;
      if (v['require-pkce']) meta.require_pkce = true;
      if (meta.grant_types === undefined && meta.redirect_uris === undefined && !v.file) meta.grant_types = ['client_credentials'];
      const { json } = await registerClient(ctx, meta);
      write.created = json.client_id as string;
      out.print(JSON.stringify(json, null, 2) + (json.client_secret ? '\n(the client_secret is shown only this once)' : ''), json);
      return 0;
    }
    case 'list': {
      const clients = await listClients(ctx);
      out.print(
        clients.map((c) => `${c.clientId}\t${c.clientName ?? ''}\t${c.tokenEndpointAuthMethod}\t${c.grantTypes.join(',')}`).join('\n') || '(no clients)',
        clients.map(clientView),
      );
      return 0;
    }
    case 'show': {
      const c = clientView(await getClient(ctx, need()));
      out.print(JSON.stringify(c, null, 2), c);
      return 0;
    }
    case 'update': {
      if (!v.file) throw new CliError('client update needs --file with the complete metadata (JSON)');
      const { json } = await replaceClient(ctx, need(), readJsonInput(v.file as string));
      out.print(JSON.stringify(json, null, 2) + (json.client_secret ? '\n(the new client_secret is shown only this once)' : ''), json);
      return 0;
    }
    case 'rotate-secret': {
      const grace = intOption(v, 'grace') ?? 0;
      const { json } = await rotateClientSecret(ctx, need(), grace);
      out.print(
        `new client_secret for ${arg}: ${json.client_secret as string}\n` +
          (grace ? `(the previous secret keeps working for ${grace} seconds; the new one is shown only this once)` : '(the previous secret no longer works)'),
        json,
      );
      return 0;
    }
    case 'delete': {
      await deleteClient(ctx, need());
      out.print(`deleted client ${arg}; its grants and tokens are revoked`, { deleted: arg });
      return 0;
    }
    default:
      throw new CliError('usage: latchkey client create|list|show|update|rotate-secret|delete');
  }
}

async function userCommand(lk: Latchkey, sub: string | undefined, arg: string | undefined, v: Values, out: Out, write: CliWrite): Promise<number> {
  const ctx = await tenantContext(lk, tenantOf(v));
  const need = () => {
    if (!arg) throw new CliError(`user ${sub} needs a user id (sub)`);
    return arg;
  };
  const show = (u: Parameters<typeof userView>[0], human: string) => out.print(human, userView(u));
  switch (sub) {
    case 'create': {
      const password = secretOption(v, 'password');
      if (!v.username || !password) throw new CliError('user create needs --username and --password-file (or --password)');
      const u = await createUser(ctx, { username: v.username as string, password, claims: parseClaimsOption(v) ?? {}, id: v.id as string | undefined });
      write.created = u.id;
      show(u, `created user ${u.username} (sub ${u.id})`);
      return 0;
    }
    case 'list': {
      const users = await listUsers(ctx);
      out.print(users.map((u) => `${u.id}\t${u.username}${u.disabled ? '\t(disabled)' : ''}`).join('\n') || '(no users)', users.map(userView));
      return 0;
    }
    case 'show': {
      const u = await getUser(ctx, need());
      const details = await userDetails(ctx, u);
      out.print(JSON.stringify(details, null, 2), details);
      return 0;
    }
    case 'update': {
      const u = await updateUser(ctx, need(), { username: v.username as string | undefined, claims: parseClaimsOption(v) });
      show(u, `updated user ${u.username} (sub ${u.id})`);
      return 0;
    }
    case 'set-password': {
      const password = secretOption(v, 'password');
      if (!password) throw new CliError('user set-password needs --password-file (or --password)');
      await setPassword(ctx, need(), password);
      out.print(`password changed for ${arg}; their sessions ended`, { sub: arg });
      return 0;
    }
    case 'disable':
    case 'enable': {
      const u = await setDisabled(ctx, need(), sub === 'disable');
      show(u, sub === 'disable' ? `disabled ${u.username}: sessions ended, grants and tokens revoked` : `enabled ${u.username}`);
      return 0;
    }
    case 'unlock': {
      const u = await unlockUser(ctx, need());
      show(u, `unlocked ${u.username}: failed sign-ins forgotten`);
      return 0;
    }
    case 'reset-mfa': {
      const u = await resetUserMfa(ctx, need());
      show(u, `two-step sign-in turned off for ${u.username}`);
      return 0;
    }
    case 'remove-key': {
      if (typeof v.key !== 'string' || !v.key) throw new CliError('usage: latchkey user remove-key SUB --key ID (the key ids are in latchkey user show SUB)');
      const u = await removeUserSecurityKey(ctx, need(), v.key);
      show(u, `security key removed for ${u.username}`);
      return 0;
    }
    case 'delete': {
      await deleteUser(ctx, need());
      out.print(`deleted user ${arg}`, { deleted: arg });
      return 0;
    }
    default:
      throw new CliError('usage: latchkey user create|list|show|update|set-password|disable|enable|unlock|reset-mfa|remove-key|delete');
  }
}

async function keysCommand(lk: Latchkey, sub: string | undefined, arg: string | undefined, v: Values, out: Out, write: CliWrite): Promise<number> {
  const tenant = (await tenantContext(lk, tenantOf(v))).tenant.id;
  const show = (ks: Awaited<ReturnType<typeof listKeys>>) =>
    ks.map((k) => ({ kid: k.kid, alg: k.alg, status: k.state, created_at: k.createdAt, activates_at: k.activatesAt }));
  const at = (s: number) => new Date(s * 1000).toISOString();
  switch (sub) {
    case 'list': {
      const ks = await listKeys(lk, tenant);
      out.print(ks.map((k) => `${k.kid}\t${k.alg}\t${k.state}${k.state === 'pending' ? ` (signs from ${at(k.activatesAt)})` : ''}`).join('\n'), show(ks));
      return 0;
    }
    case 'rotate': {
      let added;
      try {
        added = await rotateKeys(lk, tenant, v.alg as string[] | undefined, { immediate: v.now === true });
      } catch (e) {
        if (e instanceof ServiceError) throw new CliError(e.message);
        throw e;
      }
      const line = (k: (typeof added)[number]) =>
        k.state === 'pending'
          ? `new key ${k.kid} (${k.alg}) published; it signs from ${at(k.activatesAt)}, the current one until then`
          : `new active key ${k.kid} (${k.alg}); the previous one stays published`;
      write.kids = added.map((k) => k.kid);
      out.print(added.map(line).join('\n'), show(added));
      return 0;
    }
    case 'retire': {
      if (!arg) throw new CliError('keys retire needs a kid');
      let k;
      try {
        k = await retireKey(lk, tenant, arg, { force: v.force === true });
      } catch (e) {
        if (e instanceof ServiceError) throw new CliError(e.message);
        throw e;
      }
      out.print(`retired ${k.kid} (${k.alg}): it is no longer in the JWKS`, keyView(k));
      return 0;
    }
    default:
      throw new CliError('usage: latchkey keys list|rotate|retire');
  }
}

async function tenantCommand(lk: Latchkey, sub: string | undefined, arg: string | undefined, v: Values, out: Out): Promise<number> {
  switch (sub) {
    case 'list': {
      const ts = (await listTenants(lk)).map((t) => tenantView(t, lk));
      out.print(ts.map((t) => `${t.id as string}\t${t.issuer as string}`).join('\n'), ts);
      return 0;
    }
    case 'create': {
      if (!arg) throw new CliError('tenant create needs an id');
      // A tenant and a service are the same thing: --issuer as for `service create` (docs/configuration.md insecureHttpIssuer).
      const t = tenantView(await createTenant(lk, { id: arg, issuer: v.issuer as string | undefined }), lk);
      out.print(`created tenant ${arg} (issuer ${t.issuer as string})`, t);
      return 0;
    }
    default:
      throw new CliError('usage: latchkey tenant list|create');
  }
}

async function tokenCommand(lk: Latchkey, cmd: string, sub: string | undefined, arg: string | undefined, v: Values, out: Out, write: CliWrite): Promise<number> {
  const kind = cmd === 'admin-token' ? 'admin' : 'initial_access';
  switch (sub) {
    case 'create': {
      const input = { name: v.name as string | undefined, expiresIn: intOption(v, 'expires-in') };
      const { record, token } =
        kind === 'admin'
          ? await createAdminToken(lk, input)
          : await createInitialAccessToken(lk, { ...input, tenantId: tenantOf(v), uses: intOption(v, 'uses') });
      write.created = record.id;
      out.print(`${token}\n(id ${record.id}; the token is shown only this once)`, { ...managementTokenView(record), token });
      return 0;
    }
    case 'list': {
      // Initial access tokens belong to a tenant: --tenant lists that tenant's only (without it, every tenant's).
      const ts = (await listManagementTokens(lk, kind)).filter((t) => v.tenant === undefined || t.tenantId === v.tenant).map(managementTokenView);
      out.print(
        ts.map((t) => `${t.id as string}\t${(t.name as string | null) ?? ''}${t.revoked_at !== null ? '\t(revoked)' : ''}`).join('\n') || '(none)',
        ts,
      );
      return 0;
    }
    case 'revoke': {
      if (!arg) throw new CliError(`${cmd} revoke needs an id`);
      await revokeManagementToken(lk, kind, arg);
      out.print(`revoked ${arg}`, { revoked: arg });
      return 0;
    }
    default:
      throw new CliError(`usage: latchkey ${cmd} create|list|revoke`);
  }
}

/** Resource servers (RFC 8707): what clients may name with `resource`, and the audience of their tokens. */
async function resourceCommand(lk: Latchkey, sub: string | undefined, arg: string | undefined, v: Values, out: Out, write: CliWrite): Promise<number> {
  const ctx = await tenantContext(lk, tenantOf(v));
  switch (sub) {
    case 'create':
    case 'update': {
      let current: Record<string, unknown> = {};
      if (sub === 'update') {
        if (!arg) throw new CliError('resource update needs an identifier');
        const rs = await storedResourceServer(ctx, arg);
        if (!rs) throw new CliError(`no resource server ${arg}`);
        current = resourceServerToJson(rs);
      }
      const base = (v.file ? readJsonInput(v.file as string) : current) as Record<string, unknown>;
      if (typeof base !== 'object' || base === null || Array.isArray(base)) throw new CliError('a resource server must be a JSON object');
      const meta: Record<string, unknown> = { ...base };
      delete meta.created_at; // read-only, as `resource show --json` prints it
      if (v.identifier) meta.identifier = v.identifier;
      if (v.scope) meta.scope = v.scope;
      if (v.name) meta.name = v.name;
      if (v.format) meta.access_token_format = v.format;
      if (v.ttl) meta.access_token_lifetime = v.ttl;
      if (v['introspection-client']) meta.introspection_clients = v['introspection-client'];
      if (sub === 'update') {
        const rs = await updateResourceServer(ctx, arg!, meta);
        out.print(`updated resource server ${rs.identifier}`, resourceServerToJson(rs));
        return 0;
      }
      if (meta.identifier === undefined) throw new CliError('resource create needs --identifier');
      const rs = await registerResourceServer(ctx, meta);
      write.created = rs.identifier;
      out.print(`created resource server ${rs.identifier}`, resourceServerToJson(rs));
      return 0;
    }
    case 'list': {
      const all = await storedResourceServers(ctx);
      out.print(
        all.map((r) => `${r.identifier}\t${r.scopes.join(' ')}\t${r.accessTokenFormat ?? ''}${r.introspectionClients ? `\tintrospection: ${r.introspectionClients.join(' ') || '(own client only)'}` : ''}`).join('\n') || '(no resource servers)',
        all.map(resourceServerToJson),
      );
      return 0;
    }
    case 'show': {
      if (!arg) throw new CliError('resource show needs an identifier');
      const rs = await storedResourceServer(ctx, arg);
      if (!rs) throw new CliError(`no resource server ${arg}`);
      const json = resourceServerToJson(rs);
      out.print(Object.entries(json).map(([k, val]) => `${k}: ${Array.isArray(val) ? val.join(' ') || '(none)' : String(val)}`).join('\n'), json);
      return 0;
    }
    case 'delete': {
      if (!arg) throw new CliError('resource delete needs an identifier');
      if (!(await ctx.store.deleteResourceServer(ctx.tenant.id, arg))) throw new CliError(`no resource server ${arg}`);
      out.print(`deleted resource server ${arg}`, { deleted: arg });
      return 0;
    }
    default:
      throw new CliError('usage: latchkey resource create|update|list|show|delete');
  }
}

async function sessionCommand(lk: Latchkey, sub: string | undefined, arg: string | undefined, v: Values, out: Out): Promise<number> {
  const ctx = await lk.context(DEFAULT_TENANT);
  switch (sub) {
    case 'list': {
      if (!v.user) throw new CliError('session list needs --user SUB');
      const sessions = await liveSessionsOf(ctx, v.user as string);
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
      const outcome = await endBrowserSession(ctx, lk.audit, arg, { method: 'session_end', source: 'cli' });
      if (!outcome.ended) throw new CliError(`no live session ${arg}`);
      await lk.backchannel.deliver(outcome.backchannel, 10_000);
      out.print(`ended session ${arg}; notified ${outcome.backchannel.length} client(s) by back-channel`, { ended: arg, backchannel: outcome.backchannel.length });
      return 0;
    }
    default:
      throw new CliError('usage: latchkey session list --user SUB | end SID');
  }
}

async function serviceCommand(lk: Latchkey, sub: string | undefined, arg: string | undefined, v: Values, out: Out): Promise<number> {
  switch (sub) {
    case 'create': {
      if (!arg) throw new CliError('service create needs an id');
      const t = tenantView(await createTenant(lk, { id: arg, issuer: v.issuer as string | undefined }), lk);
      out.print(`created service ${arg} (issuer ${t.issuer as string}) with its own signing keys`, t);
      return 0;
    }
    case 'list': {
      const ts = (await listTenants(lk)).map((t) => tenantView(t, lk));
      out.print(ts.map((t) => `${t.id as string}\t${t.issuer as string}`).join('\n'), ts);
      return 0;
    }
    default:
      throw new CliError('usage: latchkey service create ID [--issuer URL] | list');
  }
}

async function serviceTokenCommand(lk: Latchkey, sub: string | undefined, arg: string | undefined, v: Values, out: Out, write: CliWrite): Promise<number> {
  switch (sub) {
    case 'create': {
      const { record, token } = await createServiceToken(lk, { serviceId: v.service as string | undefined, name: v.name as string | undefined });
      write.created = record.id;
      const scope = record.tenantId === null ? 'every service' : `service ${record.tenantId}`;
      out.print(`service token ${record.id} for ${scope} (shown only this once):\n${token}`, { ...serviceTokenView(record), token });
      return 0;
    }
    case 'list': {
      const ts = (await listServiceTokens(lk)).map(serviceTokenView);
      out.print(
        ts.map((t) => `${t.id as string}\t${t.service as string}\t${(t.name as string | null) ?? ''}${t.revoked_at !== null ? '\t(revoked)' : ''}`).join('\n') || '(no service tokens)',
        ts,
      );
      return 0;
    }
    case 'revoke': {
      if (!arg) throw new CliError('service-token revoke needs a token id');
      await revokeServiceToken(lk, arg);
      out.print(`revoked service token ${arg}`, { revoked: arg });
      return 0;
    }
    default:
      throw new CliError('usage: latchkey service-token create [--service ID] [--name N] | list | revoke ID');
  }
}

/** Entry point: one clear line and a non-zero exit on bad input, never a stack trace. */
export async function run(argv: string[]): Promise<void> {
  try {
    process.exitCode = await main(argv);
  } catch (e) {
    if (e instanceof CliError || e instanceof ConfigError || e instanceof UserInputError || e instanceof ServiceError) {
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
    // A cluster worker that failed to start (port in use): its IPC channel to the primary would keep it alive after
    // the line above. Exit, so the primary sees a worker fail to start and stops (cluster.ts).
    if (cluster.isWorker) process.exit();
  }
}

async function auditCommand(lk: Latchkey, sub: string | undefined, v: Values, out: Out): Promise<number> {
  if (sub !== 'list') throw new CliError('usage: latchkey audit list [--type T] [--since TIME] [--limit N]');
  const tenant = (await getTenant(lk, tenantOf(v))).id;
  const events = (await listAuditEvents(lk, tenant, parseAuditQuery({ type: v.type as string | undefined, since: v.since as string | undefined, limit: v.limit as string | undefined }))).map(auditEventView);
  out.print(
    events.map((e) => [e.at, e.type, e.client_id ?? '-', e.subject ?? '-', e.ip ?? '-', e.result_code ?? '-', JSON.stringify(e.detail)].join('\t')).join('\n') || '(no events)',
    events,
  );
  return 0;
}
