/**
 * A scripted user agent for the login/consent UI over plain HTTP: keeps cookies per path, reads forms,
 * follows redirects until it reaches the client's redirect_uri. Browser tests (test/browser) do the same in Chromium.
 */
export class Agent {
  private jar = new Map<string, { value: string; path: string }>();

  /** `fetcher`: the fetch to send with (tests of an https server pass one that trusts their CA: https-fetch.ts). */
  constructor(
    readonly base: string,
    private readonly fetcher: (url: URL, init: { method: string; headers: Record<string, string>; body?: string; redirect: 'manual' }) => Promise<Response> = fetch,
  ) {}

  private cookieHeader(url: URL): string {
    return [...this.jar.entries()]
      .filter(([, c]) => url.pathname.startsWith(c.path))
      .map(([n, c]) => `${n}=${c.value}`)
      .join('; ');
  }

  private store(res: Response): void {
    for (const sc of res.headers.getSetCookie()) {
      const [pair, ...attrs] = sc.split(';');
      const i = pair!.indexOf('=');
      const name = pair!.slice(0, i).trim();
      const value = pair!.slice(i + 1).trim();
      const path = attrs.map((a) => a.trim()).find((a) => a.toLowerCase().startsWith('path='))?.slice(5) ?? '/';
      const maxAge = attrs.map((a) => a.trim()).find((a) => a.toLowerCase().startsWith('max-age='));
      if (maxAge && Number(maxAge.slice(8)) <= 0) this.jar.delete(name);
      else this.jar.set(name, { value, path });
    }
  }

  cookies(): string[] {
    return [...this.jar.keys()];
  }

  cookieValue(name: string): string | undefined {
    return this.jar.get(name)?.value;
  }

  dropCookie(name: string): void {
    this.jar.delete(name);
  }

  /** Plant a cookie, as a script or another site could (path /). */
  setCookie(name: string, value: string): void {
    this.jar.set(name, { value, path: '/' });
  }

  async request(url: string, init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<{ status: number; location?: string; rawLocation?: string; html: string; headers: Headers }> {
    const u = new URL(url, this.base);
    const headers: Record<string, string> = { ...init.headers };
    const cookie = this.cookieHeader(u);
    if (cookie) headers.cookie = cookie;
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    const res = await this.fetcher(u, { method: init.method ?? (init.form ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
    this.store(res);
    const location = res.headers.get('location') ?? undefined;
    // location: resolved against the request URL (and so normalised); rawLocation: the header as sent.
    return { status: res.status, location: location ? new URL(location, u).toString() : undefined, rawLocation: location, html: await res.text(), headers: res.headers };
  }

  /** Follow same-origin redirects; stop at a page (200/4xx) or at a redirect leaving the server. */
  async follow(url: string, init: Parameters<Agent['request']>[1] = {}) {
    let r = await this.request(url, init);
    for (let i = 0; i < 10 && r.location && r.location.startsWith(this.base); i++) r = await this.request(r.location);
    return r;
  }

  static formValue(html: string, name: string): string | undefined {
    const m = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
    return m?.[1]?.replace(/&amp;/g, '&').replace(/&quot;/g, '"');
  }

  static formAction(html: string, contains: string): string {
    const m = [...html.matchAll(/action="([^"]+)"/g)].map((x) => x[1]!).find((a) => a.includes(contains));
    if (!m) throw new Error(`no form action containing ${contains} in page:\n${html.slice(0, 500)}`);
    return m;
  }

  /**
   * RFC 8628 §3.3: a user opens the verification page for `userCode`, signs in there and approves the device.
   * Returns the final page (it says "Device connected" when the approval went through).
   */
  async approveDevice(userCode: string, username: string, password: string) {
    const login = await this.follow(`/device?user_code=${encodeURIComponent(userCode)}`);
    const codePage = await this.follow(Agent.formAction(login.html, '/device/login'), {
      form: { csrf: Agent.formValue(login.html, 'csrf')!, user_code: userCode, username, password },
    });
    const confirm = await this.follow('/device', { form: { csrf: Agent.formValue(codePage.html, 'csrf')!, user_code: userCode } });
    return this.follow('/device/confirm', {
      form: { csrf: Agent.formValue(confirm.html, 'csrf')!, binding: Agent.formValue(confirm.html, 'binding')!, user_code: userCode, decision: 'approve' },
    });
  }

  /** Sign in on a login page and return the next response (consent page, or the redirect to the client). */
  async login(page: { html: string }, username: string, password: string) {
    const action = Agent.formAction(page.html, '/login');
    const csrf = Agent.formValue(page.html, 'csrf')!;
    return this.follow(action, { form: { csrf, username, password } });
  }

  async consent(page: { html: string }, decision: 'approve' | 'deny') {
    const action = Agent.formAction(page.html, '/consent');
    const csrf = Agent.formValue(page.html, 'csrf')!;
    return this.follow(action, { form: { csrf, decision } });
  }

  /** From an authorization URL to the final redirect to the client, signing in and approving as needed. */
  async authorize(url: string, username: string, password: string): Promise<URL> {
    let r = await this.follow(url);
    if (r.html.includes('name="password"')) r = await this.login(r, username, password);
    if (r.html.includes('/consent')) r = await this.consent(r, 'approve');
    if (!r.location) throw new Error(`expected a redirect to the client, got ${r.status}: ${r.html.slice(0, 300)}`);
    return new URL(r.location);
  }
}
