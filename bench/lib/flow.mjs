// Multi-request scenarios (the authorization code flow): a keep-alive HTTP client, a cookie jar, a scripted
// sign-in through a server's login and consent pages, and a bounded concurrent loop that measures iterations.
// autocannon sends one request shape per connection; a code flow follows a varying number of redirects, carries
// cookies set along the way and feeds the code into the token request, so it is driven here instead.
import http from 'node:http';
import { HOST } from './proc.mjs';

/** A keep-alive agent for `connections` concurrent iterations (one socket each, reused). */
export function keepAliveAgent(connections) {
  return new http.Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections, scheduling: 'lifo' });
}

/** One HTTP request on the loopback interface; resolves with { status, headers, body (text), size (bytes, about) }. */
export function send(agent, url, { method = 'GET', headers = {}, body } = {}, timeoutMs = 10_000) {
  const u = typeof url === 'string' ? new URL(url) : url;
  // Every request of the bench stays on this machine.
  if (u.hostname !== HOST || u.protocol !== 'http:') return Promise.reject(new Error(`refusing to send a request to ${u.origin}`));
  return new Promise((resolve, reject) => {
    const h = body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) };
    const req = http.request({ agent, host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers: h, timeout: timeoutMs }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (data += c));
      res.on('end', () => {
        // Bytes on the wire, near enough: status line, header lines, blank line, body.
        let size = 17 + data.length;
        for (const h of res.rawHeaders) size += h.length + 2;
        resolve({ status: res.statusCode, headers: res.headers, body: data, size });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${method} ${u.pathname}`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Cookies by name with their path, as a browser keeps them for one origin. */
export class Jar {
  constructor(entries = []) {
    this.map = new Map(entries);
  }

  clone() {
    return new Jar(this.map);
  }

  header(pathname) {
    let out = '';
    for (const [name, c] of this.map) {
      if (!pathname.startsWith(c.path)) continue;
      out += (out ? '; ' : '') + `${name}=${c.value}`;
    }
    return out;
  }

  /** Take the Set-Cookie headers of a response (node's res.headers['set-cookie'] array). */
  store(setCookie) {
    if (!setCookie) return;
    for (const sc of setCookie) {
      const parts = sc.split(';');
      const pair = parts[0];
      const i = pair.indexOf('=');
      if (i <= 0) continue;
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      let path = '/';
      let expired = false;
      for (let k = 1; k < parts.length; k++) {
        const a = parts[k].trim().toLowerCase();
        if (a.startsWith('path=')) path = parts[k].trim().slice(5) || '/';
        else if (a.startsWith('max-age=') && Number(a.slice(8)) <= 0) expired = true;
        else if (a.startsWith('expires=') && Date.parse(parts[k].trim().slice(8)) <= Date.now()) expired = true;
      }
      if (expired || value === '') this.map.delete(name);
      else this.map.set(name, { value, path });
    }
  }

  names() {
    return [...this.map.keys()];
  }
}

const formValue = (html, name) => new RegExp(`name="${name}"[^>]*value="([^"]*)"`).exec(html)?.[1]?.replace(/&amp;/g, '&').replace(/&quot;/g, '"');
const formAction = (html, contains) => [...html.matchAll(/action="([^"]+)"/g)].map((m) => m[1].replace(/&amp;/g, '&')).find((a) => a.includes(contains));

/**
 * Sign in once, as a person would: follow the authorization URL through the server's own login page and consent
 * page (forms posted to an action containing `/login` and `/consent`, with a `csrf` field when the page has one)
 * until the redirect to the client. Leaves the session cookies in `jar`; returns that final redirect URL.
 */
export async function signIn(agent, jar, authorizeUrl, user) {
  let url = new URL(authorizeUrl);
  const origin = url.origin;
  let init = { method: 'GET' };
  for (let step = 0; step < 20; step++) {
    const cookie = jar.header(url.pathname);
    const res = await send(agent, url, { ...init, headers: { ...init.headers, ...(cookie ? { cookie } : {}) } });
    jar.store(res.headers['set-cookie']);
    if (res.status >= 300 && res.status < 400 && res.headers.location) {
      const next = new URL(res.headers.location, url);
      if (next.origin !== origin) return next;
      url = next;
      init = { method: 'GET' };
      continue;
    }
    if (res.status !== 200) throw new Error(`sign-in: ${res.status} at ${url.pathname}: ${res.body.slice(0, 300)}`);
    const csrf = formValue(res.body, 'csrf');
    let action;
    let form;
    if (res.body.includes('name="password"')) {
      action = formAction(res.body, '/login');
      form = { username: user.username, password: user.password };
    } else {
      action = formAction(res.body, '/consent');
      form = { decision: 'approve' };
    }
    if (!action) throw new Error(`sign-in: a page at ${url.pathname} with neither a login nor a consent form: ${res.body.slice(0, 300)}`);
    url = new URL(action, url);
    init = {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...(csrf ? { csrf } : {}), ...form }).toString(),
    };
  }
  throw new Error('sign-in: too many steps');
}

const percentile = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] : undefined);

/**
 * Run `iterate(ctx, conn)` on `connections` concurrent loops for `seconds` (each loop finishes the iteration it
 * started), at most `maxIterations` in all. `iterate` returns { problem?, requests, bytes }. The result has the
 * fields the runner reads from an autocannon result, counted in iterations, plus the HTTP requests they made.
 */
export async function runLoop({ connections, seconds, iterate, ctx, maxIterations = 2_000_000 }) {
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const latencies = [];
  let ok = 0;
  let failed = 0;
  let errors = 0;
  let requests = 0;
  let bytes = 0;
  let problem;
  let count = 0;
  const worker = async () => {
    const conn = {};
    while (performance.now() < deadline && count < maxIterations) {
      count++;
      const t0 = performance.now();
      try {
        const r = await iterate(ctx, conn);
        requests += r.requests;
        bytes += r.bytes;
        if (r.problem) {
          failed++;
          problem ??= r.problem;
        } else {
          ok++;
          latencies.push(performance.now() - t0);
        }
      } catch (e) {
        errors++;
        problem ??= e.message;
      }
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  const duration = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const total = ok + failed + errors;
  return {
    requests: { total },
    '2xx': ok,
    duration,
    latency: {
      p50: percentile(latencies, 50),
      p90: percentile(latencies, 90),
      p99: percentile(latencies, 99),
      mean: latencies.length ? latencies.reduce((a, b) => a + b, 0) / latencies.length : undefined,
    },
    throughput: { total: bytes },
    statusCodeStats: {},
    non2xx: 0,
    errors,
    timeouts: 0,
    mismatches: failed,
    problem,
    httpRequests: requests,
  };
}
