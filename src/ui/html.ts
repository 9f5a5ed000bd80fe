/** Server-rendered pages: plain accessible HTML, one small stylesheet, no script. */

export const esc = (s: unknown): string =>
  String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export const STYLESHEET = `
:root{color-scheme:light dark;--fg:#1b1f24;--muted:#57606a;--bg:#f6f8fa;--card:#fff;--accent:#0b57d0;--err:#b3261e;--border:#d0d7de}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9da7b3;--bg:#0d1117;--card:#161b22;--accent:#4d8ef7;--err:#ff7b72;--border:#30363d}}
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;background:var(--bg);color:var(--fg)}
main{max-width:26rem;margin:8vh auto;padding:2rem;background:var(--card);border:1px solid var(--border);border-radius:12px}
h1{font-size:1.35rem;margin:0 0 1rem}p{margin:.5rem 0}.muted{color:var(--muted);font-size:.9rem}
label{display:block;margin:.9rem 0 .25rem;font-weight:600}
input[type=text],input[type=password]{width:100%;padding:.6rem .7rem;font:inherit;border:1px solid var(--border);border-radius:8px;background:var(--bg);color:var(--fg)}
input:focus-visible,button:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.actions{display:flex;gap:.75rem;margin-top:1.5rem}
button{flex:1;padding:.65rem 1rem;font:inherit;font-weight:600;border-radius:8px;border:1px solid var(--border);background:var(--card);color:var(--fg);cursor:pointer}
button.primary{background:var(--accent);border-color:var(--accent);color:#fff}
.error{color:var(--err);border-left:3px solid var(--err);padding-left:.6rem}
ul.scopes{padding-left:1.2rem}ul.scopes li{margin:.3rem 0}
img.logo{max-width:64px;max-height:64px;display:block;margin-bottom:1rem}
`;

export function layout(title: string, body: string, lang = 'en'): string {
  return `<!doctype html>
<html lang="${esc(lang)}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><title>${esc(title)}</title><link rel="stylesheet" href="/assets/latchkey.css"></head>
<body><main>${body}</main></body></html>`;
}

export interface LoginPageModel {
  action: string;
  csrf: string;
  clientName: string;
  username?: string;
  error?: string;
  /** select_account: offer to continue with the signed-in account. */
  continueAs?: string;
}

export function loginPage(m: LoginPageModel): string {
  return layout(
    'Sign in',
    `<h1>Sign in</h1>
<p class="muted">to continue to <strong>${esc(m.clientName)}</strong></p>
${m.error ? `<p class="error" role="alert">${esc(m.error)}</p>` : ''}
${m.continueAs ? `<form method="post" action="${esc(m.action)}"><input type="hidden" name="csrf" value="${esc(m.csrf)}"><input type="hidden" name="continue" value="1">
<div class="actions"><button type="submit" class="primary">Continue as ${esc(m.continueAs)}</button></div></form><p class="muted">or sign in with another account:</p>` : ''}
<form method="post" action="${esc(m.action)}">
<input type="hidden" name="csrf" value="${esc(m.csrf)}">
<label for="username">Username</label>
<input type="text" id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required value="${esc(m.username)}"${m.username ? '' : ' autofocus'}>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required${m.username ? ' autofocus' : ''}>
<div class="actions"><button type="submit" class="primary">Sign in</button></div>
</form>`,
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
  username: string;
}

export function consentPage(m: ConsentPageModel): string {
  return layout(
    'Allow access?',
    `${m.logoUri ? `<img class="logo" src="${esc(m.logoUri)}" alt="">` : ''}<h1>${esc(m.clientName)} wants to access your account</h1>
<p class="muted">Signed in as <strong>${esc(m.username)}</strong></p>
<p>It is asking to:</p>
<ul class="scopes">${m.scopes.map((s) => `<li>${esc(describeScope(s))}</li>`).join('')}</ul>
<form method="post" action="${esc(m.action)}">
<input type="hidden" name="csrf" value="${esc(m.csrf)}">
<div class="actions"><button type="submit" name="decision" value="deny">Deny</button><button type="submit" name="decision" value="approve" class="primary">Allow</button></div>
</form>`,
  );
}

export function errorPage(title: string, message: string, code?: string): string {
  return layout(title, `<h1>${esc(title)}</h1><p class="error" role="alert">${esc(message)}</p>${code ? `<p class="muted">Error: ${esc(code)}</p>` : ''}
<p class="muted">You were not sent back to the application because the request could not be trusted or completed.</p>`);
}

export function messagePage(title: string, message: string): string {
  return layout(title, `<h1>${esc(title)}</h1><p>${esc(message)}</p>`);
}

export function demoCallbackPage(params: URLSearchParams): string {
  const rows = [...params].map(([k, v]) => `<li><strong>${esc(k)}</strong>: <code>${esc(v)}</code></li>`).join('');
  return layout('Demo callback', `<h1>Demo client callback</h1><p>The authorization server redirected here with:</p><ul>${rows}</ul>
<p class="muted">Exchange the code at the token endpoint with the demo client's credentials.</p>`);
}

export function logoutConfirmPage(m: { action: string; csrf: string; clientName?: string; username?: string }): string {
  return layout(
    'Sign out?',
    `<h1>Sign out?</h1>
${m.clientName ? `<p class="muted"><strong>${esc(m.clientName)}</strong> asked to sign you out.</p>` : ''}
${m.username ? `<p>You are signed in as <strong>${esc(m.username)}</strong>.</p>` : ''}
<form method="post" action="${esc(m.action)}">
<input type="hidden" name="csrf" value="${esc(m.csrf)}">
<div class="actions"><button type="submit" name="decision" value="stay">Stay signed in</button><button type="submit" name="decision" value="logout" class="primary">Sign out</button></div>
</form>`,
  );
}

/**
 * The signed-out page. Front-Channel Logout §3: each client's frontchannel_logout_uri in a hidden iframe; once they
 * have loaded (or after a few seconds) the user goes on to the post-logout redirect URI, if there is one.
 */
export function signedOutPage(m: { frames: string[]; next?: string; nonce: string }): string {
  const frames = m.frames.map((u) => `<iframe src="${esc(u)}" hidden title="sign-out notification"></iframe>`).join('');
  const script = m.next
    ? `<script nonce="${esc(m.nonce)}">(function(){var f=document.querySelectorAll('iframe'),n=f.length,go=function(){location.replace(${JSON.stringify(m.next).replace(/</g, '\\u003c')});};if(!n){go();return;}f.forEach(function(x){x.addEventListener('load',function(){if(--n===0)go();});});setTimeout(go,4000);})();</script>`
    : '';
  return layout(
    'Signed out',
    `<h1>You are signed out</h1>${m.next ? `<p class="muted"><a href="${esc(m.next)}">Continue</a></p>` : '<p>You can close this window.</p>'}${frames}${script}`,
  );
}
