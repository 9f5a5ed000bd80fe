import { readFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { configSchema, type Config, type ConfigInput } from './schema.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function envName(key: string): string {
  return 'LATCHKEY_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
}

/**
 * Merge, lowest precedence first: defaults, the JSON file, LATCHKEY_* env vars, explicit overrides.
 * Throws ConfigError with one line naming the offending option.
 */
export function loadConfig(opts: { file?: string; env?: NodeJS.ProcessEnv; overrides?: ConfigInput } = {}): Config {
  const env = opts.env ?? process.env;
  const merged: Record<string, unknown> = {};
  const source: Record<string, string> = {};

  const file = opts.file ?? env.LATCHKEY_CONFIG ?? (existsSync('latchkey.config.json') ? 'latchkey.config.json' : undefined);
  if (file) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(resolve(file), 'utf8'));
    } catch (e) {
      throw new ConfigError(`cannot read config file ${file}: ${(e as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new ConfigError(`config file ${file} must hold a JSON object`);
    }
    for (const [k, v] of Object.entries(parsed)) {
      merged[k] = v;
      source[k] = `${file}: ${k}`;
    }
  }
  const known = Object.keys(configSchema.shape);
  for (const key of known) {
    const v = env[envName(key)];
    if (v !== undefined && v !== '') {
      merged[key] = v;
      source[key] = envName(key);
    }
  }
  for (const [k, v] of Object.entries(opts.overrides ?? {})) {
    if (v !== undefined) {
      merged[k] = v;
      source[k] = k;
    }
  }
  return validateConfig(merged, source);
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
