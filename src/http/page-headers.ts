/**
 * The security headers of every HTML page (sign-in, consent, device, logout, error pages): a strict CSP that forbids
 * framing, no referrer, no caching. `formTargets` are the origins a form on the page may post to or be redirected to
 * (Chrome applies form-action to the redirects that follow a submission); `frames` the origins it embeds (front-channel
 * logout); `scriptNonce` the nonce of its one inline script, if any.
 */
export function pageHeaders(formTargets: string[] = [], extra: { frames?: string[]; scriptNonce?: string } = {}): Record<string, string> {
  const formAction = ["'self'", ...new Set(formTargets.filter(Boolean))].join(' ');
  const frames = [...new Set((extra.frames ?? []).filter(Boolean))];
  return {
    'Content-Security-Policy':
      `default-src 'none'; style-src 'self'; img-src 'self' https: data:; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'` +
      (frames.length ? `; frame-src ${frames.join(' ')}` : '') +
      (extra.scriptNonce ? `; script-src 'nonce-${extra.scriptNonce}'` : ''),
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-store',
  };
}
