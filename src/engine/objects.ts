/** A JSON object (not null, not an array): how the engine reads members of stored token data and of JSON input. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Whether a JWS header's typ is absent or names one of `types` (given lower case, without "application/"): RFC 7515
 * §4.1.9 media types compare case-insensitively and may leave "application/" out. RFC 8725 §3.11: a JWT explicitly
 * typed as another kind is not taken as this one.
 */
export function typIsAbsentOrOneOf(typ: unknown, types: readonly string[]): boolean {
  return typ === undefined || (typeof typ === 'string' && types.includes(typ.toLowerCase().replace(/^application\//, '')));
}
