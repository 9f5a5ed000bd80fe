import { readFileSync } from 'node:fs';

/**
 * The one rule for a secret read from a file, for LATCHKEY_<NAME>_FILE (config/load.ts) and the CLI's
 * --password-file / --secret-file alike: the text without its trailing line breaks (every trailing "\n", "\r\n" or
 * "\r"). A Docker or Kubernetes secret, an `echo` or an editor ends the file with one; `echo … >>`, a pasted value or
 * an editor's blank last line leave more. No value these readers take can end with a line break (a configuration
 * value, a password typed into a one-line field, a client secret), so dropping them all never changes a value that
 * could work, while keeping one would store a secret that silently matches nothing. Nothing else is trimmed: spaces
 * may belong to a password.
 */
export function withoutTrailingLineBreaks(text: string): string {
  return text.replace(/[\r\n]+$/, '');
}

/** A secret file's value (withoutTrailingLineBreaks); `0` reads standard input. Errors are the caller's to word. */
export function readSecretFile(file: string | 0): string {
  return withoutTrailingLineBreaks(readFileSync(file, 'utf8'));
}
