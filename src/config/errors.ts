/**
 * A configuration the server cannot start with, said in one line (the CLI prints it as such). Its own module, with
 * no imports: modules below the configuration loader (keys/keystore.ts: a keyEncryptionKey that does not open the
 * stored keys) throw it without depending on config loading (files, environment, the zod schema).
 */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
