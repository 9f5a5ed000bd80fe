/** OIDC Core §5.4: the claims each standard scope stands for. */
export const SCOPE_CLAIMS: Record<string, readonly string[]> = {
  profile: [
    'name', 'family_name', 'given_name', 'middle_name', 'nickname', 'preferred_username', 'profile', 'picture',
    'website', 'gender', 'birthdate', 'zoneinfo', 'locale', 'updated_at',
  ],
  email: ['email', 'email_verified'],
  address: ['address'],
  phone: ['phone_number', 'phone_number_verified'],
};

/** The user's claims released by the granted scopes. */
export function claimsForScopes(scopes: readonly string[], userClaims: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of scopes) {
    for (const name of SCOPE_CLAIMS[s] ?? []) if (userClaims[name] !== undefined) out[name] = userClaims[name];
  }
  return out;
}
