/**
 * Where a JSON text broke, in our words. V8's SyntaxError messages quote the text around the fault
 * (`Unexpected token 'p', ..."baseUrl": postgres://u:pa"... is not valid JSON`), and the texts we parse hold secrets:
 * a config file's keyEncryptionKey or database URL, a client's metadata with its client_secret, a JWK set with
 * private keys, a Core API body. So only the position (or that the text ended early) is ever repeated.
 */
export function jsonSyntaxProblem(err: unknown): string {
  const message = err instanceof Error ? err.message : '';
  const at = /at position (\d+)/.exec(message)?.[1];
  if (at !== undefined) return `at position ${at}`;
  if (/end of JSON/i.test(message)) return 'it ends too early';
  return 'unexpected character';
}

/** The message of an error met reading and parsing a JSON file: the file system's own, or where the JSON broke. */
export function jsonFileProblem(err: unknown): string {
  return err instanceof SyntaxError ? `not valid JSON (${jsonSyntaxProblem(err)})` : (err as Error).message;
}
