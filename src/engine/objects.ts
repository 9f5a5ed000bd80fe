/** A JSON object (not null, not an array): how the engine reads members of stored token data and of JSON input. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
