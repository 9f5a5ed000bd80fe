/** Server-rendered pages: plain accessible HTML, one small stylesheet, no script. */

export const esc = (s: unknown): string =>
  String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/**
 * A name someone else chose (a client's name, a username) shown inside our sentences: escaped, and isolated (<bdi>) so
 * that bidirectional control characters in it (U+202E …) cannot reorder the page's own words around it.
 */
const who = (s: unknown): string => `<bdi>${esc(s)}</bdi>`;

/**
 * A page that answers a form with an error says so first in its title (WCAG 2.4.2, 3.3.1): the title is the first
 * thing a screen reader reads of the page that comes back.
 */
const titled = (title: string, error: string | undefined): string => (error ? `Error: ${title}` : title);

/** The one error message of a form page: an alert (WCAG 4.1.3), and the description of the fields it is about. */
const errorAlert = (error: string | undefined): string => (error ? `<p class="error" id="error" role="alert">${esc(error)}</p>` : '');

/**
 * The attributes of a field on a form page (WCAG 3.3.1, 4.1.2): invalid, and described by the error, when the error
 * is about it; the focus on it when it is the field to fix (`focus`), so the error is read with its label.
 */
const fieldState = (invalid: boolean, focus: boolean): string =>
  `${invalid ? ' aria-invalid="true" aria-describedby="error"' : ''}${focus ? ' autofocus' : ''}`;

/**
 * WCAG 2.2 AA, worked out from these colours (test/ui/stylesheet.test.ts recomputes them): text ≥ 4.5:1 against the
 * card and the field background in both schemes (1.4.3); a field's border and the focus ring ≥ 3:1 against the card
 * (1.4.11), --border being only a card's decoration; the text on the primary button is --on-accent, dark in the dark
 * scheme, where white on its lighter blue would be 3.2:1. Long words (client names, usernames, codes) wrap at any
 * letter rather than push the page sideways at 320 px (1.4.10). No animation, so prefers-reduced-motion has nothing
 * to stop.
 */
export const STYLESHEET = `
:root{color-scheme:light dark;--fg:#1b1f24;--muted:#57606a;--bg:#f6f8fa;--card:#fff;--accent:#0b57d0;--on-accent:#fff;--err:#b3261e;--border:#d0d7de;--field:#6e7781}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9da7b3;--bg:#0d1117;--card:#161b22;--accent:#4d8ef7;--on-accent:#0d1117;--err:#ff7b72;--border:#30363d;--field:#8b949e}}
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;background:var(--bg);color:var(--fg)}
main{max-width:26rem;margin:8vh auto;padding:2rem;background:var(--card);border:1px solid var(--border);border-radius:12px;overflow-wrap:anywhere}
h1{font-size:1.35rem;margin:0 0 1rem}p{margin:.5rem 0}.muted{color:var(--muted);font-size:.9rem}
a{color:var(--accent)}
label{display:block;margin:.9rem 0 .25rem;font-weight:600}
input[type=text],input[type=password],input[type=email]{width:100%;padding:.6rem .7rem;font:inherit;border:1px solid var(--field);border-radius:8px;background:var(--bg);color:var(--fg)}
input::placeholder{color:var(--muted);opacity:1}
input[aria-invalid=true]{border:2px solid var(--err)}
a:focus-visible,input:focus-visible,button:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.actions{display:flex;gap:.75rem;margin-top:1.5rem}
button{flex:1;padding:.65rem 1rem;font:inherit;font-weight:600;border-radius:8px;border:1px solid var(--field);background:var(--card);color:var(--fg);cursor:pointer}
button.primary{background:var(--accent);border-color:var(--accent);color:var(--on-accent)}
.error{color:var(--err);border-left:3px solid var(--err);padding-left:.6rem}
ul.scopes{padding-left:1.2rem}ul.scopes li{margin:.3rem 0}
pre.detail{margin:.3rem 0;padding:.4rem;font-size:.8rem;white-space:pre-wrap;overflow-wrap:anywhere;background:var(--bg);border-radius:6px}
img.logo{max-width:64px;max-height:64px;display:block;margin-bottom:1rem}
section.app-access{border-top:1px solid var(--border);margin-top:1rem;padding-top:.5rem}ul.sessions li{margin:.4rem 0}ul.sessions form{display:inline}ul.sessions button{flex:none;margin-left:.5rem;padding:.2rem .7rem}h2{font-size:1.1rem;margin:1.5rem 0 .5rem}h3{font-size:1rem;margin:.5rem 0 0}
.vh{position:absolute;width:1px;height:1px;margin:-1px;padding:0;border:0;overflow:hidden;clip-path:inset(50%);white-space:nowrap}
`;

/**
 * The page template. `base` is the path the pages are served under (pagesOf(ctx).base: '' at the root, the issuer's
 * path for a tenant or an embedding app); the stylesheet is served there, so the link is built with the page.
 */
export function layout(base: string, title: string, body: string, lang = 'en'): string {
  return `<!doctype html>
<html lang="${esc(lang)}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><title>${esc(title)}</title><link rel="stylesheet" href="${esc(base)}/assets/latchkey.css"></head>
<body><main>${body}</main></body></html>`;
}

export interface LoginPageModel {
  action: string;
  csrf: string;
  clientName: string;
  username?: string;
  error?: string;
  /** The fields the error is about (marked invalid and described by it); none for an error about the whole form. */
  invalid?: ('username' | 'password')[];
  /** select_account: offer to continue with the signed-in account. */
  continueAs?: string;
  /** Replaces "to continue to <client>" (the /device page signs in for a device, not a client). */
  purpose?: string;
  /** Extra hidden fields carried through the form. */
  hidden?: Record<string, string>;
  /** OIDC Registration §2: the client's logo, privacy policy and terms of service, shown to the user. */
  logoUri?: string;
  policyUri?: string;
  tosUri?: string;
}

/**
 * OIDC Registration §2: the OP SHOULD show the End-User the client's policy_uri and tos_uri (and display its
 * logo_uri). They are client-chosen http(s) URLs (validated at registration), shown as plain links.
 */
/** WCAG G201: a link that opens a new tab says so to those who cannot see the tab open. */
const NEW_TAB = '<span class="vh"> (opens in a new tab)</span>';

export function clientLinks(m: { policyUri?: string; tosUri?: string }): string {
  const links = [
    m.policyUri ? `<a href="${esc(m.policyUri)}" rel="noopener noreferrer" target="_blank">Privacy policy${NEW_TAB}</a>` : '',
    m.tosUri ? `<a href="${esc(m.tosUri)}" rel="noopener noreferrer" target="_blank">Terms of service${NEW_TAB}</a>` : '',
  ].filter(Boolean);
  return links.length ? `<p class="muted client-links">${links.join(' · ')}</p>` : '';
}

/** What a page shows of the client besides its name (OIDC Registration §2 logo_uri, policy_uri, tos_uri). */
export function clientBranding(c: { logoUri?: string; policyUri?: string; tosUri?: string }): { logoUri?: string; policyUri?: string; tosUri?: string } {
  return { logoUri: c.logoUri, policyUri: c.policyUri, tosUri: c.tosUri };
}

export function loginPage(base: string, m: LoginPageModel): string {
  const invalid = new Set(m.error ? m.invalid ?? [] : []);
  // The focus: on "Continue as" when it is offered (it comes first: a focus on the field below would skip it), else on
  // the field to fill or fix: the password once a username was entered, unless the error is about the username alone.
  const offer = m.continueAs !== undefined && !m.error;
  const focus = offer ? 'continue' : !m.username || (invalid.has('username') && !invalid.has('password')) ? 'username' : 'password';
  return layout(
    base,
    titled('Sign in', m.error),
    `${m.logoUri ? `<img class="logo" src="${esc(m.logoUri)}" alt="">` : ''}<h1>Sign in</h1>
<p class="muted">${m.purpose ? esc(m.purpose) : `to continue to <strong>${who(m.clientName)}</strong>`}</p>
${errorAlert(m.error)}
${m.continueAs ? `<form method="post" action="${esc(m.action)}"><input type="hidden" name="csrf" value="${esc(m.csrf)}"><input type="hidden" name="continue" value="1">
<div class="actions"><button type="submit" class="primary"${focus === 'continue' ? ' autofocus' : ''}>Continue as ${who(m.continueAs)}</button></div></form><p class="muted">or sign in with another account:</p>` : ''}
<form method="post" action="${esc(m.action)}">
<input type="hidden" name="csrf" value="${esc(m.csrf)}">
${Object.entries(m.hidden ?? {}).map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`).join('')}
<label for="username">Username</label>
<input type="text" id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required value="${esc(m.username)}"${fieldState(invalid.has('username'), focus === 'username')}>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required${fieldState(invalid.has('password'), focus === 'password')}>
<div class="actions"><button type="submit" class="primary">Sign in</button></div>
</form>${clientLinks(m)}`,
  );
}

const SCOPE_WORDS: Record<string, string> = {
  openid: 'Know who you are (your account identifier)',
  profile: 'Your basic profile: name, username, picture and locale',
  email: 'Your email address',
  address: 'Your postal address',
  phone: 'Your phone number',
  offline_access: 'Keep access while you are not using it (until you revoke it)',
};

export function describeScope(s: string): string {
  return SCOPE_WORDS[s] ?? `Access to "${s}"`;
}

export interface ConsentPageModel {
  action: string;
  csrf: string;
  clientName: string;
  logoUri?: string;
  scopes: string[];
  /** User claims asked for by name (OIDC Core §5.5 claims parameter). */
  claims?: string[];
  username: string;
  policyUri?: string;
  tosUri?: string;
  /** RFC 9396: the authorization details asked for, each shown field by field (client-chosen text, escaped). */
  authorizationDetails?: Record<string, unknown>[];
}

/** RFC 9396 §2.2: the common fields, shown with words; any other field of the type is shown as JSON. */
const DETAIL_FIELDS: [string, string][] = [
  ['actions', 'Actions'], ['locations', 'Locations'], ['datatypes', 'Data types'], ['identifier', 'Identifier'], ['privileges', 'Privileges'],
];

/** One authorization details object, readably: its type, the common fields, then the rest as escaped JSON. */
export function describeAuthorizationDetail(d: Record<string, unknown>): string {
  const rows = DETAIL_FIELDS.filter(([k]) => d[k] !== undefined).map(
    ([k, label]) => `<br><span class="muted">${label}:</span> ${esc(Array.isArray(d[k]) ? (d[k] as unknown[]).join(', ') : d[k])}`,
  );
  const rest = Object.fromEntries(Object.entries(d).filter(([k]) => k !== 'type' && !DETAIL_FIELDS.some(([f]) => f === k)));
  const more = Object.keys(rest).length ? `<pre class="detail">${esc(JSON.stringify(rest, null, 2))}</pre>` : '';
  return `<li class="authorization-detail"><strong>${esc(d.type)}</strong>${rows.join('')}${more}</li>`;
}

const CLAIM_WORDS: Record<string, string> = {
  name: 'your name', given_name: 'your first name', family_name: 'your last name', middle_name: 'your middle name',
  nickname: 'your nickname', preferred_username: 'your username', profile: 'your profile page', picture: 'your picture',
  website: 'your website', gender: 'your gender', birthdate: 'your birth date', zoneinfo: 'your time zone', locale: 'your locale',
  updated_at: 'when your profile last changed', email: 'your email address', email_verified: 'whether your email address is verified',
  address: 'your postal address', phone_number: 'your phone number', phone_number_verified: 'whether your phone number is verified',
};

/** A request that names no scope, claim or authorization detail: a sentence, not an empty list (read as "list, 0 items"). */
const NOTHING_NAMED = 'It is asking for access to your account without naming any particular permission.';

export function consentPage(base: string, m: ConsentPageModel): string {
  const details = (m.authorizationDetails?.length ?? 0) > 0; // RFC 9396
  const asks = m.scopes.length > 0 || (m.claims?.length ?? 0) > 0;
  return layout(
    base,
    `Allow ${m.clientName} to access your account?`,
    `${m.logoUri ? `<img class="logo" src="${esc(m.logoUri)}" alt="">` : ''}<h1>${who(m.clientName)} wants to access your account</h1>
<p class="muted">Signed in as <strong>${who(m.username)}</strong></p>
${asks ? `<p>It is asking to:</p>
<ul class="scopes">${m.scopes.map((s) => `<li>${esc(describeScope(s))}</li>`).join('')}${
      m.claims?.length ? `<li>Read ${esc(m.claims.map((c) => CLAIM_WORDS[c] ?? c).join(', '))}</li>` : ''
    }</ul>` : details ? '' : `<p>${NOTHING_NAMED}</p>`}${
      details
        ? `\n<p>${asks ? 'And to be authorized for' : 'It is asking to be authorized for'}:</p>\n<ul class="scopes authorization-details">${m.authorizationDetails!.map(describeAuthorizationDetail).join('')}</ul>`
        : ''
    }
<form method="post" action="${esc(m.action)}">
<input type="hidden" name="csrf" value="${esc(m.csrf)}">
<div class="actions"><button type="submit" name="decision" value="deny">Deny</button><button type="submit" name="decision" value="approve" class="primary">Allow</button></div>
</form>${clientLinks(m)}`,
  );
}

export function errorPage(base: string, title: string, message: string, code?: string): string {
  return layout(base, title, `<h1>${esc(title)}</h1><p class="error" role="alert">${esc(message)}</p>${code ? `<p class="muted">Error: ${esc(code)}</p>` : ''}
<p class="muted">You were not sent back to the application because the request could not be trusted or completed.</p>`);
}

export function messagePage(base: string, title: string, message: string): string {
  return layout(base, title, `<h1>${esc(title)}</h1><p>${esc(message)}</p>`);
}

export function demoCallbackPage(base: string, params: URLSearchParams): string {
  const rows = [...params].map(([k, v]) => `<li><strong>${esc(k)}</strong>: <code>${esc(v)}</code></li>`).join('');
  return layout(base, 'Demo callback', `<h1>Demo client callback</h1><p>The authorization server redirected here with:</p><ul>${rows}</ul>
<p class="muted">Exchange the code at the token endpoint with the demo client's credentials.</p>`);
}

export function logoutConfirmPage(base: string, m: { action: string; csrf: string; clientName?: string; username?: string }): string {
  return layout(
    base,
    'Sign out?',
    `<h1>Sign out?</h1>
${m.clientName ? `<p class="muted"><strong>${who(m.clientName)}</strong> asked to sign you out.</p>` : ''}
${m.username ? `<p>You are signed in as <strong>${who(m.username)}</strong>.</p>` : ''}
<form method="post" action="${esc(m.action)}">
<input type="hidden" name="csrf" value="${esc(m.csrf)}">
<div class="actions"><button type="submit" name="decision" value="stay">Stay signed in</button><button type="submit" name="decision" value="logout" class="primary">Sign out</button></div>
</form>`,
  );
}

export interface CreateAccountPageModel {
  action: string;
  csrf: string;
  clientName: string;
  username?: string;
  name?: string;
  email?: string;
  error?: string;
  /** The field the error is about; none for an error about the whole form. */
  invalid?: 'username' | 'password' | 'name' | 'email';
}

export function createAccountPage(base: string, m: CreateAccountPageModel): string {
  const invalid = m.error ? m.invalid : undefined;
  // The focus: on the field to fix; else on the username, or, once one was entered, on the password (never kept).
  const focus = invalid ?? (m.username ? 'password' : 'username');
  const state = (f: typeof focus) => fieldState(invalid === f, focus === f);
  return layout(
    base,
    titled('Create an account', m.error),
    `<h1>Create an account</h1>
<p class="muted">to continue to <strong>${who(m.clientName)}</strong></p>
${errorAlert(m.error)}
<form method="post" action="${esc(m.action)}">
<input type="hidden" name="csrf" value="${esc(m.csrf)}">
<label for="username">Username</label>
<input type="text" id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required value="${esc(m.username)}"${state('username')}>
<label for="password">Password (at least 8 characters)</label>
<input type="password" id="password" name="password" autocomplete="new-password" minlength="8" required${state('password')}>
<label for="name">Name (optional)</label>
<input type="text" id="name" name="name" autocomplete="name" value="${esc(m.name)}"${state('name')}>
<label for="email">Email (optional)</label>
<input type="email" id="email" name="email" autocomplete="email" spellcheck="false" value="${esc(m.email)}"${state('email')}>
<div class="actions"><button type="submit" class="primary">Create account</button></div>
</form>`,
  );
}

/**
 * The signed-out page. Front-Channel Logout §3: each client's frontchannel_logout_uri in a hidden iframe; once they
 * have loaded (or after a few seconds) the user goes on to the post-logout redirect URI, if there is one.
 */
export function signedOutPage(base: string, m: { frames: string[]; next?: string; nonce: string }): string {
  const frames = m.frames.map((u) => `<iframe src="${esc(u)}" hidden title="sign-out notification"></iframe>`).join('');
  const script = m.next
    ? `<script nonce="${esc(m.nonce)}">(function(){var f=document.querySelectorAll('iframe'),n=f.length,go=function(){location.replace(${JSON.stringify(m.next).replace(/</g, '\\u003c')});};if(!n){go();return;}f.forEach(function(x){x.addEventListener('load',function(){if(--n===0)go();});});setTimeout(go,4000);})();</script>`
    : '';
  return layout(
    base,
    'Signed out',
    `<h1>You are signed out</h1>${m.next ? `<p class="muted"><a href="${esc(m.next)}">Continue</a></p>` : '<p>You can close this window.</p>'}${frames}${script}`,
  );
}

export interface DeviceCodePageModel {
  action: string;
  csrf: string;
  username: string;
  userCode?: string;
  error?: string;
}

/** RFC 8628 §3.3: the user types the code their device shows. */
export function deviceCodePage(base: string, m: DeviceCodePageModel): string {
  return layout(
    base,
    titled('Connect a device', m.error),
    `<h1>Connect a device</h1>
<p class="muted">Signed in as <strong>${who(m.username)}</strong></p>
${errorAlert(m.error)}
<form method="post" action="${esc(m.action)}">
<input type="hidden" name="csrf" value="${esc(m.csrf)}">
<label for="user_code">Enter the code shown on your device</label>
<input type="text" id="user_code" name="user_code" autocomplete="one-time-code" autocapitalize="characters" spellcheck="false" required placeholder="XXXX-XXXX" value="${esc(m.userCode)}"${fieldState(m.error !== undefined, true)}>
<div class="actions"><button type="submit" class="primary">Continue</button></div>
</form>`,
  );
}

export interface DeviceConfirmPageModel {
  action: string;
  csrf: string;
  userCode: string;
  clientName: string;
  logoUri?: string;
  scopes: string[];
  /** RFC 9396: the authorization details the device asked for (client-chosen text, escaped). */
  authorizationDetails?: Record<string, unknown>[];
  username: string;
  /** Ties the decision to the code verified on the previous page (routes/ui.ts confirmBinding). */
  binding?: string;
}

/** RFC 8628 §5.4: say which application asks, so a user tricked into entering someone else's code can refuse. */
export function deviceConfirmPage(base: string, m: DeviceConfirmPageModel): string {
  const asks = m.scopes.length > 0;
  const details = (m.authorizationDetails?.length ?? 0) > 0; // RFC 9396
  return layout(
    base,
    `Allow ${m.clientName} to access your account?`,
    `${m.logoUri ? `<img class="logo" src="${esc(m.logoUri)}" alt="">` : ''}<h1>${who(m.clientName)} wants to access your account</h1>
<p class="muted">Signed in as <strong>${who(m.username)}</strong>; code <strong>${esc(m.userCode)}</strong></p>
<p>Only continue if you started this on a device you own and it shows this code. ${
      asks ? 'It is asking to:' : details ? 'It is asking to be authorized for:' : NOTHING_NAMED
    }</p>${asks ? `\n<ul class="scopes">${m.scopes.map((s) => `<li>${esc(describeScope(s))}</li>`).join('')}</ul>` : ''}${
      details
        ? `${asks ? '\n<p>And to be authorized for:</p>' : ''}\n<ul class="scopes authorization-details">${m.authorizationDetails!.map(describeAuthorizationDetail).join('')}</ul>`
        : ''
    }
<form method="post" action="${esc(m.action)}">
<input type="hidden" name="csrf" value="${esc(m.csrf)}">
<input type="hidden" name="user_code" value="${esc(m.userCode)}">${m.binding ? `\n<input type="hidden" name="binding" value="${esc(m.binding)}">` : ''}
<div class="actions"><button type="submit" name="decision" value="deny">Deny</button><button type="submit" name="decision" value="approve" class="primary">Allow</button></div>
</form>`,
  );
}

/**
 * A request the browser sent from another site, posted again from this origin, so that it carries the SameSite=Lax
 * session cookie the cross-site POST was sent without (routes/ui.ts: RP-initiated logout by POST). The fields are
 * those received; a script submits the form at once, a button does without scripts. The form's own submit method is
 * called from the prototype: a field named "submit" would shadow it.
 */
export function resubmitPage(base: string, m: { action: string; fields: [string, string][]; nonce: string; title: string }): string {
  const inputs = m.fields.map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`).join('\n');
  return layout(
    base,
    m.title,
    `<h1>${esc(m.title)}</h1><form method="post" action="${esc(m.action)}">
${inputs}
<p class="muted">Press Continue if nothing happens.</p>
<div class="actions"><button type="submit" class="primary">Continue</button></div>
</form><script nonce="${esc(m.nonce)}">HTMLFormElement.prototype.submit.call(document.forms[0]);</script>`,
  );
}

export interface CibaPageModel {
  action: string;
  csrf: string;
  username: string;
  requests: {
    id: string;
    clientName: string;
    logoUri?: string;
    scopes: string[];
    bindingMessage?: string;
    authorizationDetails?: Record<string, unknown>[];
  }[];
}

/**
 * OpenID CIBA Core §8: the user's authentication device, in the browser. Each request waiting for the signed-in user
 * shows who asks, for what, and the binding message the client shows on its own device (§7.1), to compare.
 */
export function cibaPage(base: string, m: CibaPageModel): string {
  const items = m.requests.map((r, i) => {
    const asks = r.scopes.length > 0;
    // Several requests: each button names its own (WCAG 2.4.6, 2.5.3: the visible label first), or they all read "Allow".
    const which = m.requests.length > 1 ? `${r.clientName}, ${r.bindingMessage ?? `request ${i + 1}`}` : undefined;
    const label = (verb: string) => (which === undefined ? '' : ` aria-label="${esc(`${verb} ${which}`)}"`);
    const details = (r.authorizationDetails?.length ?? 0) > 0;
    return `<section class="ciba-request">${r.logoUri ? `<img class="logo" src="${esc(r.logoUri)}" alt="">` : ''}<h2>${who(r.clientName)} asks you to sign in</h2>
${r.bindingMessage !== undefined ? `<p>It shows this message: <strong class="binding-message">${esc(r.bindingMessage)}</strong>. Only allow it if you see the same message where you are signing in.</p>` : '<p>Only allow it if you are signing in to it now.</p>'}
<p>${asks ? 'It is asking to:' : details ? 'It is asking to be authorized for:' : NOTHING_NAMED}</p>${asks ? `\n<ul class="scopes">${r.scopes.map((s) => `<li>${esc(describeScope(s))}</li>`).join('')}</ul>` : ''}${
      details ? `${asks ? '\n<p>And to be authorized for:</p>' : ''}\n<ul class="scopes authorization-details">${r.authorizationDetails!.map(describeAuthorizationDetail).join('')}</ul>` : ''
    }
<form method="post" action="${esc(m.action)}">
<input type="hidden" name="csrf" value="${esc(m.csrf)}">
<input type="hidden" name="request" value="${esc(r.id)}">
<div class="actions"><button type="submit" name="decision" value="deny"${label('Deny')}>Deny</button><button type="submit" name="decision" value="approve" class="primary"${label('Allow')}>Allow</button></div>
</form></section>`;
  });
  return layout(
    base,
    'Sign-in requests',
    `<h1>Sign-in requests</h1>
<p class="muted">Signed in as <strong>${who(m.username)}</strong></p>
${items.length ? items.join('\n') : '<p class="none">There is nothing waiting for you. If an application said it sent you a sign-in request, it may have expired: start again there, then reload this page.</p>'}`,
  );
}

export interface OtpPageModel {
  action: string;
  csrf: string;
  /** The hidden fields of the sign-in form it continues (the ticket's, the device's user code). */
  hidden?: Record<string, string>;
  /** The sign-in waiting for its second step (bound to this browser's form and the user). */
  pending: string;
  error?: string;
  /** The user has security keys (services/webauthn.ts): navigator.credentials.get's options, and the script's nonce. */
  webauthn?: WebauthnPageModel;
}

/** A form that runs /assets/webauthn.js: what it passes to navigator.credentials (binary members base64url). */
export interface WebauthnPageModel {
  options: unknown;
  nonce: string;
}

/**
 * A form the WebAuthn script (WEBAUTHN_SCRIPT) drives: hidden until the script finds the browser can use a key, then
 * on submit it asks the key (`kind`: get or create, with `options`), puts the answer in the `webauthn` field and
 * posts the form. `fields`: its hidden fields; `inner`: its visible ones and the button.
 */
function webauthnForm(base: string, action: string, kind: 'get' | 'create', w: WebauthnPageModel, fields: Record<string, string>, inner: string): string {
  return `<div class="webauthn" data-webauthn-box hidden>
<form method="post" action="${esc(action)}" data-webauthn="${kind}" data-options="${esc(JSON.stringify(w.options))}">
${Object.entries(fields).map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`).join('')}<input type="hidden" name="webauthn" value="">
${inner}
</form>
<p class="muted" aria-live="polite" data-webauthn-status></p>
</div>
<script nonce="${esc(w.nonce)}" src="${esc(base)}/assets/webauthn.js"></script>`;
}

/**
 * The script of a page offering a security key (services/webauthn.ts): WebAuthn's JSON-to-binary and back, as the
 * browsers without PublicKeyCredential.parse*OptionsFromJSON need. Served as /assets/webauthn.js, run by the page's
 * nonce; a browser without WebAuthn (or without scripts) keeps the key's form hidden and uses a code.
 */
export const WEBAUTHN_SCRIPT = `(function () {
  if (!window.PublicKeyCredential || !navigator.credentials) return;
  var toB64 = function (buf) {
    var a = new Uint8Array(buf), s = '';
    for (var i = 0; i < a.length; i++) s += String.fromCharCode(a[i]);
    return btoa(s).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
  };
  var fromB64 = function (t) {
    var s = atob(t.replace(/-/g, '+').replace(/_/g, '/')), a = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) a[i] = s.charCodeAt(i);
    return a;
  };
  document.querySelectorAll('[data-webauthn-box]').forEach(function (box) {
    var form = box.querySelector('form[data-webauthn]'), status = box.querySelector('[data-webauthn-status]');
    var create = form.getAttribute('data-webauthn') === 'create';
    box.hidden = false;
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var o = JSON.parse(form.getAttribute('data-options'));
      o.challenge = fromB64(o.challenge);
      if (o.user) o.user.id = fromB64(o.user.id);
      (o.allowCredentials || o.excludeCredentials || []).forEach(function (c) { c.id = fromB64(c.id); });
      status.textContent = create ? 'Follow your browser to add the key.' : 'Follow your browser to use your key.';
      (create ? navigator.credentials.create({ publicKey: o }) : navigator.credentials.get({ publicKey: o })).then(function (c) {
        var r = c.response, out = { id: c.id, rawId: toB64(c.rawId), type: c.type, clientExtensionResults: c.getClientExtensionResults(), response: { clientDataJSON: toB64(r.clientDataJSON) } };
        if (c.authenticatorAttachment) out.authenticatorAttachment = c.authenticatorAttachment;
        if (create) {
          out.response.attestationObject = toB64(r.attestationObject);
          out.response.transports = r.getTransports ? r.getTransports() : [];
        } else {
          out.response.authenticatorData = toB64(r.authenticatorData);
          out.response.signature = toB64(r.signature);
          if (r.userHandle) out.response.userHandle = toB64(r.userHandle);
        }
        form.elements.webauthn.value = JSON.stringify(out);
        status.textContent = '';
        HTMLFormElement.prototype.submit.call(form);
      }, function (err) {
        status.textContent = (create ? 'No key was added' : 'Your key was not used') + ' (' + (err && err.name ? err.name : 'error') + '). Try again' + (create ? '.' : ', or enter a code.');
      });
    });
  });
})();
`;

/** Two-step sign-in, the second step: a security key, or the code from the user's authenticator app (services/mfa.ts). */
export function otpPage(base: string, m: OtpPageModel): string {
  const hidden = { csrf: m.csrf, ...(m.hidden ?? {}), otp_pending: m.pending };
  const title = m.webauthn ? 'Confirm it is you' : 'Enter your code';
  return layout(
    base,
    titled(title, m.error),
    `<h1>${title}</h1>
${errorAlert(m.error)}
${m.webauthn ? `${webauthnForm(base, m.action, 'get', m.webauthn, hidden, '<div class="actions"><button type="submit" class="primary">Use your security key</button></div>')}
` : ''}<p class="muted" id="otp-hint">${m.webauthn ? 'Or open' : 'Open'} your authenticator app and enter the 6-digit code it shows for this account, or one of your recovery codes.</p>
<form method="post" action="${esc(m.action)}">
${Object.entries(hidden).map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`).join('')}
<label for="otp">Code</label>
<input type="text" id="otp" name="otp" inputmode="numeric" autocomplete="one-time-code" maxlength="12" spellcheck="false" required${fieldState(m.error !== undefined, m.webauthn === undefined || m.error !== undefined)}>
<div class="actions"><button type="submit"${m.webauthn ? '' : ' class="primary"'}>Verify</button></div>
</form>`,
  );
}

export interface MfaPageModel {
  action: string;
  csrf: string;
  username: string;
  /** On: the user's sign-ins ask for a code. Off: `setup` holds a new secret to add to an app. */
  on: boolean;
  setup?: { secret: string; uri: string };
  error?: string;
  /** A message after a change (turned on or off). */
  done?: string;
  /** Just turned on: the recovery codes, shown this once. */
  recoveryCodes?: string[];
  /** On: how many recovery codes are left. */
  recoveryLeft?: number;
  /**
   * Offered inside a sign-in, because the application asked for two-step sign-in (ui/interaction.ts 'mfa-setup'):
   * it can be declined ("not now", or "cancel" when the application requires it), and once on, the page leads on.
   */
  enrol?: { clientName: string; required: boolean };
  /** The account page, linked from /mfa (not inside a sign-in). */
  accountHref?: string;
  /** On, at /mfa: the user's security keys and passkeys (services/webauthn.ts). */
  keys?: { id: string; name: string; createdAt: number; lastUsedAt: number | null }[];
  /** On, at /mfa, below the keys' limit: adding one (navigator.credentials.create's options; the challenge's expiry). */
  addKey?: WebauthnPageModel & { exp: number; salt: string };
  /** On, at /mfa, with an issuer at an IP address: no key can be added there (services/webauthn.ts webauthnUsable). */
  keysNeedHostName?: boolean;
}

/**
 * The user's two-step sign-in: off, with a new secret to add to an authenticator app (as a link its phone opens, and
 * as text to type) and a code to confirm it; or on, with a code to turn it off.
 */
export function mfaPage(base: string, m: MfaPageModel): string {
  const grouped = m.setup?.secret.replace(/(.{4})(?=.)/g, '$1 ');
  const codeField = `<label for="otp">Code from your authenticator app</label>
<input type="text" id="otp" name="otp" inputmode="numeric" autocomplete="one-time-code" maxlength="12" spellcheck="false" required${fieldState(m.error !== undefined, m.error !== undefined)}>`;
  const form = (decision: string, inner: string) => `<form method="post" action="${esc(m.action)}">
<input type="hidden" name="csrf" value="${esc(m.csrf)}"><input type="hidden" name="decision" value="${decision}">
${inner}
</form>`;
  const button = (label: string, primary = false) => `<div class="actions"><button type="submit"${primary ? ' class="primary"' : ''}>${esc(label)}</button></div>`;
  const onText = '<p>Two-step sign-in is <strong>on</strong>: after your password, you enter a code from your authenticator app.</p>';
  const recovery = m.recoveryCodes
    ? `<h2>Your recovery codes</h2>
<p>Keep these somewhere safe. If you lose your authenticator app, each one signs you in once in place of a code. They are shown only now.</p>
<ul class="recovery-codes">${m.recoveryCodes.map((c) => `<li><code>${esc(c)}</code></li>`).join('')}</ul>`
    : `<p class="muted">${m.recoveryLeft ?? 0} recovery code${m.recoveryLeft === 1 ? '' : 's'} left. A code from your app makes new ones; the old ones then stop working.</p>`;
  const setup = () => `<p><a href="${esc(m.setup!.uri)}">Add to an authenticator app on this device</a>, or enter this key in it: <code class="otp-secret">${esc(grouped)}</code></p>`;
  const enrol = m.enrol;
  let body: string;
  if (enrol && m.on) {
    body = `${onText}\n${recovery}\n${form('continue', button(`Continue to ${enrol.clientName}`, true))}`;
  } else if (enrol) {
    body = `<p><strong>${esc(enrol.clientName)}</strong> ${enrol.required ? 'requires' : 'asks for'} two-step sign-in: after your password, a code from an authenticator app. To turn it on, add this account to an authenticator app, then enter the code it shows.</p>
${setup()}
${form('on', `${codeField}\n${button('Turn on and continue', true)}`)}
${form('skip', button(enrol.required ? `Cancel: do not sign in to ${enrol.clientName}` : 'Not now'))}`;
  } else if (m.on) {
    // One code, two actions: the first button (what Enter in the field does) is the one that changes less.
    body = `${onText}\n${recovery}\n<form method="post" action="${esc(m.action)}">
<input type="hidden" name="csrf" value="${esc(m.csrf)}">
${codeField}
<div class="actions"><button type="submit" name="decision" value="recovery">Make new recovery codes</button><button type="submit" name="decision" value="off">Turn off</button></div>
</form>
${keysSection(base, m)}`;
  } else {
    body = `<p>Two-step sign-in is <strong>off</strong>. To turn it on, add this account to an authenticator app, then enter the code it shows.</p>
${setup()}
${form('on', `${codeField}\n${button('Turn on', true)}`)}`;
  }
  return layout(
    base,
    titled('Two-step sign-in', m.error),
    `<h1>Two-step sign-in</h1>
<p class="muted">Signed in as <strong>${who(m.username)}</strong></p>
${m.done ? `<p role="status">${esc(m.done)}</p>` : ''}${errorAlert(m.error)}
${body}${m.accountHref && !enrol ? `
<p><a href="${esc(m.accountHref)}">Your account</a>: the applications that can reach it, your details, where you are signed in, your password.</p>` : ''}`,
  );
}

/** A time to the minute, as the pages show it: "2026-12-02 15:45 UTC" (plain text, for a label). */
const minuteUtc = (seconds: number): string => {
  const t = new Date(seconds * 1000).toISOString();
  return `${t.slice(0, 10)} ${t.slice(11, 16)} UTC`;
};
/** The same as a <time> element, with the exact instant for machines. */
const when = (seconds: number): string => `<time datetime="${new Date(seconds * 1000).toISOString()}">${minuteUtc(seconds)}</time>`;

/** /mfa with two-step sign-in on: the user's security keys, each with its own remove button, and a form to add one. */
function keysSection(base: string, m: MfaPageModel): string {
  const keys = m.keys ?? [];
  const list = keys.length
    ? `<ul class="keys">${keys.map((k) => `<li><strong>${who(k.name)}</strong>: added ${when(k.createdAt)}, ${k.lastUsedAt === null ? 'not used yet' : `last used ${when(k.lastUsedAt)}`}<form method="post" action="${esc(m.action)}">
<input type="hidden" name="csrf" value="${esc(m.csrf)}"><input type="hidden" name="key" value="${esc(k.id)}">
<button type="submit" name="decision" value="remove-key"${keys.length > 1 ? ` aria-label="${esc(`Remove ${k.name}, added ${minuteUtc(k.createdAt)}`)}"` : ''}>Remove</button>
</form></li>`).join('')}</ul>`
    : '<p class="none">You have no security key.</p>';
  const add = m.addKey
    ? `${webauthnForm(base, m.action, 'create', m.addKey, { csrf: m.csrf, decision: 'add-key', webauthn_exp: String(m.addKey.exp), webauthn_salt: m.addKey.salt }, `<label for="key-name">Name of the key</label>
<input type="text" id="key-name" name="key_name" maxlength="60" autocomplete="off" placeholder="Security key">
<div class="actions"><button type="submit">Add a security key</button></div>`)}
<noscript><p class="muted">Adding a key needs JavaScript.</p></noscript>`
    : m.keysNeedHostName
      ? '<p class="muted">To add a key, open this page at the server\'s host name (such as localhost) rather than an IP address: browsers use security keys only with a name.</p>'
      : '<p class="muted">You have as many keys as one account may have. Remove one to add another.</p>';
  return `<h2>Security keys and passkeys</h2>
<p>Instead of a code, you can sign in with a security key, or a passkey on your phone or computer.</p>
${list}
${add}`;
}

export interface AccountPageModel {
  action: string;
  csrf: string;
  username: string;
  apps: { clientId: string; clientName: string; logoUri?: string; scopes: string[]; lastAllowed: number }[];
  /** The user's live browser sessions, this one first. */
  sessions: { sid: string; device?: string; signedInAt: number; lastSeenAt: number; current: boolean; twoStep: boolean }[];
  /** Where the user manages two-step sign-in. */
  mfaHref: string;
  /** Whether two-step sign-in is on, and with how many security keys. */
  twoStep: { on: boolean; keys: number };
  done?: string;
  error?: string;
  /** The error is about the new password: its field is marked and focused. */
  passwordInvalid?: boolean;
  /** Passwords are Latchkey's to change (not an embedding application's accounts). */
  passwordChange: boolean;
  /** The user's details as the form shows them (services/account.ts PROFILE_CLAIMS), when Latchkey keeps them. */
  profile?: { name?: string; given_name?: string; family_name?: string; email?: string; emailVerified: boolean };
  /** The error is about this field of the details form: it is marked and focused. */
  profileInvalid?: 'name' | 'given_name' | 'family_name' | 'email';
}

/** The account page's form of the user's own details (OIDC Core §5.1 claims), with the autocomplete tokens browsers fill. */
function profileForm(m: AccountPageModel): string {
  const p = m.profile!;
  const field = (k: 'name' | 'given_name' | 'family_name' | 'email', label: string, autocomplete: string, type = 'text') =>
    `<label for="profile-${k}">${label}</label>
<input type="${type}" id="profile-${k}" name="${k}" autocomplete="${autocomplete}" maxlength="${k === 'email' ? 320 : 200}"${type === 'email' ? ' spellcheck="false"' : ''} value="${esc(p[k])}"${fieldState(m.profileInvalid === k, m.profileInvalid === k)}>`;
  return `<form method="post" action="${esc(m.action)}">
<input type="hidden" name="csrf" value="${esc(m.csrf)}">
${field('name', 'Full name', 'name')}
${field('given_name', 'Given name', 'given-name')}
${field('family_name', 'Family name', 'family-name')}
${field('email', 'Email', 'email', 'email')}
<p class="muted">${p.email ? (p.emailVerified ? 'Your email address is verified.' : 'Your email address is not verified: applications are told so.') : 'Applications you allow to see your email address get this one.'}</p>
<div class="actions"><button type="submit" name="decision" value="profile">Save details</button></div>
</form>`;
}


/** One entry of what an application may use: a scope, or a claim asked for by name (`claim:<name>`, engine/consent.ts). */
function describeAccess(entry: string): string {
  return entry.startsWith('claim:') ? `Read ${CLAIM_WORDS[entry.slice(6)] ?? entry.slice(6)}` : describeScope(entry);
}

/**
 * The user's account: the applications that can reach it (what each may use, when it was last allowed), each with
 * a button that takes its access back; where the user is signed in, each other browser with a button that signs it
 * out; a new password (when Latchkey holds the passwords); and a link to two-step sign-in and security keys.
 */
export function accountPage(base: string, m: AccountPageModel): string {
  const apps = m.apps.map((a) => {
    const day = new Date(a.lastAllowed * 1000).toISOString();
    return `<section class="app-access">${a.logoUri ? `<img class="logo" src="${esc(a.logoUri)}" alt="">` : ''}<h3>${who(a.clientName)}</h3>
<p class="muted">Last allowed <time datetime="${day}">${day.slice(0, 10)}</time></p>
${a.scopes.length ? `<p>It may:</p>\n<ul class="scopes">${a.scopes.map((s) => `<li>${esc(describeAccess(s))}</li>`).join('')}</ul>` : `<p>It may access your account without any particular permission.</p>`}
<form method="post" action="${esc(m.action)}">
<input type="hidden" name="csrf" value="${esc(m.csrf)}"><input type="hidden" name="client" value="${esc(a.clientId)}">
<div class="actions"><button type="submit" name="decision" value="remove"${m.apps.length > 1 ? ` aria-label="${esc(`Remove access for ${a.clientName}`)}"` : ''}>Remove access</button></div>
</form></section>`;
  });
  return layout(
    base,
    titled('Your account', m.error),
    `<h1>Your account</h1>
<p class="muted">Signed in as <strong>${who(m.username)}</strong></p>
${m.done ? `<p role="status">${esc(m.done)}</p>` : ''}${errorAlert(m.error)}
${m.profile ? `<h2>Your details</h2>\n${profileForm(m)}\n` : ''}<h2>Applications with access</h2>
${apps.length ? apps.join('\n') : '<p class="none">No application has access to your account.</p>'}
<h2>Where you are signed in</h2>
<ul class="sessions">${m.sessions.map((x) => {
    const name = x.device ?? 'A browser';
    const text = `${x.current ? `<strong>This browser</strong> (${esc(name)})` : esc(name)}: signed in ${when(x.signedInAt)}${x.twoStep ? ' with two steps' : ''}, last active ${when(x.lastSeenAt)}`;
    // Each button names its session (WCAG 2.4.6; the visible label first, 2.5.3).
    const out = x.current ? '' : `<form method="post" action="${esc(m.action)}">
<input type="hidden" name="csrf" value="${esc(m.csrf)}"><input type="hidden" name="session" value="${esc(x.sid)}">
<button type="submit" name="decision" value="sign-out" aria-label="${esc(`Sign out ${name}, signed in ${minuteUtc(x.signedInAt)}`)}">Sign out</button>
</form>`;
    return `<li>${text}${out}</li>`;
  }).join('')}</ul>
${m.sessions.some((x) => !x.current) ? `<form method="post" action="${esc(m.action)}">
<input type="hidden" name="csrf" value="${esc(m.csrf)}">
<div class="actions"><button type="submit" name="decision" value="sign-out-others">Sign out of other browsers</button></div>
</form>` : '<p class="muted">You are not signed in anywhere else.</p>'}
<h2>Signing in</h2>
${m.passwordChange ? `<form method="post" action="${esc(m.action)}">
<input type="hidden" name="csrf" value="${esc(m.csrf)}">
<label for="new-password">New password</label>
<input type="password" id="new-password" name="password" autocomplete="new-password" minlength="8" maxlength="1024" required${fieldState(m.passwordInvalid === true, m.passwordInvalid === true)}>
<p class="muted">At least 8 characters. Your other browsers are signed out when it changes.</p>
<div class="actions"><button type="submit" name="decision" value="password">Change password</button></div>
</form>` : ''}
<p><a href="${esc(m.mfaHref)}">Two-step sign-in</a>: ${m.twoStep.on
    ? `<strong>on</strong>, with an authenticator app${m.twoStep.keys ? ` and ${m.twoStep.keys === 1 ? 'a security key' : `${m.twoStep.keys} security keys`}` : ''}.`
    : '<strong>off</strong>. Turn it on to be asked for a code from an authenticator app, or a security key, after your password.'}</p>`,
  );
}
