import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/server.js';

/**
 * The benchmark only means something if every server answers every scenario correctly. This starts each bench
 * server exactly as bench/run.mjs does (unpinned, no load), runs each scenario's set-up and its thorough check a
 * few times, and on Latchkey drives each new scenario with its load path (autocannon, or the code flow's loop)
 * for a moment. No timing is measured or asserted. Needs dist/ (scripts/test.sh builds it first).
 */
const ROOT = resolve('.');
const load = (p: string) => import(pathToFileURL(join(ROOT, p)).href);
const { servers } = await load('bench/lib/servers.mjs');
const { scenarios, probe, serves, benchClient, basicAuth } = await load('bench/lib/scenarios.mjs');
const { loadScenario } = await load('bench/lib/load.mjs');

type Ctx = Record<string, any>;
type Scenario = {
  name: string;
  endpoint: string;
  iterate?: (ctx: Ctx, conn: Ctx) => Promise<{ problem?: string }>;
  setup?: (ctx: Ctx) => Promise<void> | void;
  teardown?: (ctx: Ctx) => void;
  request?: (client: Ctx, ctx: Ctx) => Ctx;
  verifier?: (ctx: Ctx) => (body: string) => boolean;
};

const client = benchClient();
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The scenarios new in issue 4, 9 and 14, which also get a moment of real load on Latchkey. */
const LOADED = new Set(['client_credentials_jwt', 'client_credentials_dpop', 'introspection', 'code_flow']);

/** A moment of the scenario's own load path, every response checked: 40 requests (or iterations), 4 connections. */
async function briefLoad(sc: Scenario, ctx: Ctx) {
  const req = sc.iterate ? undefined : sc.request!(client, ctx);
  // `seconds` only bounds the code flow's loop (40 iterations take well under a second even on a busy machine).
  const r = await loadScenario(ctx, sc, req, { connections: 4, seconds: 20, amount: 40, verifyBody: sc.verifier?.(ctx) });
  expect(r.problem, `${sc.name} under load`).toBeUndefined();
  expect({ non2xx: r.non2xx, errors: r.errors, timeouts: r.timeouts, mismatches: r.mismatches }, `${sc.name} under load`).toEqual({ non2xx: 0, errors: 0, timeouts: 0, mismatches: 0 });
  expect(r['2xx']).toBe(40);
}

async function withServer(name: string, fn: (issuer: string, dir: string) => Promise<void>, opts: { loadNew?: boolean } = {}) {
  const srv = servers.find((s: { name: string }) => s.name === name);
  const dir = mkdtempSync(join(tmpdir(), `latchkey-bench-smoke-${name}-`));
  dirs.push(dir);
  const mine = (scenarios as Scenario[]).filter((sc) => serves(srv, sc));
  const started = await srv.start({ root: ROOT, port: await freePort(), cpu: 0, pin: false, dir, client, scenarios: mine.map((sc) => sc.name) });
  try {
    for (const sc of mine) {
      const ctx: Ctx = { client, issuer: started.issuer, paths: srv.paths, url: started.issuer + srv.paths[sc.endpoint], connections: 4 };
      try {
        await sc.setup?.(ctx);
        for (let i = 0; i < 3; i++) expect(await probe(sc, ctx), `${name} ${sc.name}`).toBeUndefined();
        // The check under load accepts what the thorough check accepted, and rejects an error body.
        const verify = sc.verifier?.(ctx);
        if (verify) {
          expect(verify('{"error":"invalid_client"}')).toBe(false);
          expect(verify('{"active":false}')).toBe(false);
        }
        if (opts.loadNew && LOADED.has(sc.name)) await briefLoad(sc, ctx);
      } finally {
        sc.teardown?.(ctx);
      }
    }
    await fn(started.issuer, dir);
  } finally {
    await started.proc.stop();
  }
}

describe('bench servers answer every bench scenario correctly', () => {
  it(
    'Latchkey (set up with the CLI, then `serve`) answers every scenario: opaque, JWT (ES256) and DPoP tokens, introspection, the code flow with a session, discovery and JWKS',
    async () => {
      await withServer(
        'latchkey',
        async (issuer) => {
          // The bench's DPoP proofs are really checked: the same proof twice is a replay (RFC 9449 §11.1).
          const sc = (scenarios as Scenario[]).find((s) => s.name === 'client_credentials_dpop')!;
          const ctx: Ctx = { client, issuer, paths: {}, url: `${issuer}/oauth/token` };
          sc.setup!(ctx);
          const proof = ctx.proof();
          const send = () =>
            fetch(ctx.url, {
              method: 'POST',
              headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth(client.id, client.secret), dpop: proof },
              body: 'grant_type=client_credentials&scope=api%3Aread',
            });
          expect((await send()).status).toBe(200);
          const replay = await send();
          expect(replay.status).toBe(400);
          expect((await replay.json()).error).toBe('invalid_dpop_proof');
        },
        { loadNew: true },
      );
    },
    60_000,
  );

  it('oidc-provider as configured for the bench answers every scenario, and refuses a wrong secret', async () => {
    await withServer('oidc-provider', async (issuer) => {
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Basic ' + Buffer.from(`bench:${'x'.repeat(48)}`).toString('base64') },
        body: 'grant_type=client_credentials&scope=api%3Aread',
      });
      expect(res.status).toBe(401); // a wrong secret is refused, so the 200s above are real authentications
    });
  }, 60_000);

  it('oidc-provider with the bench SQLite adapter persists each token it issues', async () => {
    await withServer('oidc-provider-sqlite', async (_issuer, dir) => {
      const db = new Database(join(dir, 'data', 'oidc-provider.db'), { readonly: true });
      try {
        // client_credentials (3 probes), client_credentials_dpop (3), introspection's token (1).
        const row = db.prepare("SELECT count(*) AS n FROM oidc WHERE model = 'ClientCredentials'").get() as { n: number };
        expect(row.n).toBe(7);
      } finally {
        db.close();
      }
    });
  }, 60_000);

  it('Latchkey --workers 2 (a cluster sharing the port) issues and introspects tokens like the one-process server', async () => {
    await withServer('latchkey-w2', async () => {});
  }, 60_000);

  it.runIf(process.env.LATCHKEY_TEST_DATABASE_URL)('Latchkey on PostgreSQL, one process and --workers 2, issue and introspect tokens and run the code flow', async () => {
    await withServer('latchkey-pg', async () => {}, { loadNew: true });
    await withServer('latchkey-pg-w2', async () => {});
  }, 120_000);

  it('the bare node:http baseline answers hello', async () => {
    await withServer('bare', async () => {});
  });
});
