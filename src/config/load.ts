import { readFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError } from './errors.js';
import { configSchema, type Config, type ConfigInput } from './schema.js';
import { readSecretFile } from './secret-file.js';
import { jsonFileProblem } from '../ops/json-error.js';

export { ConfigError } from './errors.js';

export function envName(key: string): string {
  return 'LATCHKEY_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
}

/** The config file a loaded Config came from, and whether it holds a secret (filePermissionWarnings). */
const configFiles = new WeakMap<Config, { file: string; holdsSecret: boolean }>();

/** The config file loadConfig read for this Config (absolute path), and whether it holds a secret. */
export function configFileOf(config: Config): { file: string; holdsSecret: boolean } | undefined {
  return configFiles.get(config);
}

/** A key-encryption key, or a database URL carrying a password, in the file's own options. */
function holdsSecret(options: Record<string, unknown>): boolean {
  if (options.keyEncryptionKey !== undefined) return true;
  const url = options.databaseUrl;
  if (typeof url !== 'string' || !/^postgres(ql)?:\/\//.test(url)) return false;
  try {
    const u = new URL(url);
    return u.password !== '' || u.searchParams.has('password');
  } catch {
    return true; // unparseable: assume the worst
  }
}

/**
 * A variable that is set but empty is an error, for every option: no option takes '' as a value, and an empty
 * variable is what a deployment template leaves behind when the value it meant to substitute is missing. Taking it
 * as unset would start with the default instead (a loopback issuer, a locally generated master.key that differs
 * from the other instances'), or coerce it (a number option reads '' as 0).
 */
function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  if (v === '') throw new ConfigError(`${name} is set but empty: give it a value, or unset it to use the default`);
  return v;
}

/**
 * LATCHKEY_<NAME>_FILE: the option's value is read from that file (Docker and Kubernetes secrets), without its
 * trailing line breaks (readSecretFile: the CLI's --password-file rule too). Setting both forms of one option is an error, not a precedence rule to remember.
 */
function envFileValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const fileVar = name + '_FILE';
  const path = envValue(env, fileVar);
  if (path === undefined) return undefined;
  if (env[name] !== undefined) throw new ConfigError(`both ${name} and ${fileVar} are set: use one`);
  let value: string;
  try {
    value = readSecretFile(resolve(path));
  } catch (e) {
    throw new ConfigError(`cannot read ${fileVar} (${path}): ${(e as Error).message}`);
  }
  if (value === '') throw new ConfigError(`${fileVar} (${path}) is empty`);
  return value;
}

/**
 * Merge, lowest precedence first: defaults, the JSON file, LATCHKEY_* env vars (or LATCHKEY_*_FILE), explicit
 * overrides. Throws ConfigError with one line naming the offending option.
 */
export function loadConfig(opts: { file?: string; env?: NodeJS.ProcessEnv; overrides?: ConfigInput } = {}): Config {
  const env = opts.env ?? process.env;
  const merged: Record<string, unknown> = {};
  const source: Record<string, string> = {};
  let fromFile: { file: string; holdsSecret: boolean } | undefined;

  const file = opts.file ?? envValue(env, 'LATCHKEY_CONFIG') ?? (existsSync('latchkey.config.json') ? 'latchkey.config.json' : undefined);
  if (file) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(resolve(file), 'utf8'));
    } catch (e) {
      throw new ConfigError(`cannot read config file ${file}: ${jsonFileProblem(e)}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new ConfigError(`config file ${file} must hold a JSON object`);
    }
    for (const [k, v] of Object.entries(parsed)) {
      merged[k] = v;
      source[k] = `${file}: ${k}`;
    }
    fromFile = { file: resolve(file), holdsSecret: holdsSecret(parsed as Record<string, unknown>) };
  }
  const known = Object.keys(configSchema.shape);
  for (const key of known) {
    const name = envName(key);
    const fromVar = envFileValue(env, name);
    const v = fromVar ?? envValue(env, name);
    if (v !== undefined) {
      merged[key] = v;
      source[key] = fromVar !== undefined ? `${name}_FILE` : name;
    }
  }
  for (const [k, v] of Object.entries(opts.overrides ?? {})) {
    if (v !== undefined) {
      merged[k] = v;
      source[k] = k;
    }
  }
  const config = validateConfig(merged, source);
  if (fromFile) configFiles.set(config, fromFile);
  return config;
}

/**
 * Validate configuration given in code (createLatchkey), with the same one-line errors as loadConfig. `source`
 * names where each option came from, for the message.
 */
export function validateConfig(input: ConfigInput | Record<string, unknown>, source: Record<string, string> = {}): Config {
  const result = configSchema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = String(issue.path[0] ?? '');
    if (issue.code === 'unrecognized_keys') {
      throw new ConfigError(`unknown configuration option: ${issue.keys.join(', ')}`);
    }
    throw new ConfigError(`invalid configuration option ${source[key] ?? key}: ${issue.message}`);
  }
  return result.data;
}
