import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/server.js';

/**
 * The benchmark only means something if every server answers every scenario correctly. This starts each bench
 * server exactly as bench/run.mjs does (unpinned, no load) and runs each scenario's thorough check a few times.
 * No timing is measured or asserted. Needs dist/ (scripts/test.sh builds it first).
 */
const ROOT = resolve('.');
const load = (p: string) => import(pathToFileURL(join(ROOT, p)).href);
const { servers } = await load('bench/lib/servers.mjs');
const { scenarios, probe } = await load('bench/lib/scenarios.mjs');

const client = { id: 'bench', secret: randomBytes(36).toString('base64url'), scope: 'api:read' };
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function withServer(name: string, fn: (issuer: string, dir: string) => Promise<void>) {
  const srv = servers.find((s: { name: string }) => s.name === name);
  const dir = mkdtempSync(join(tmpdir(), `latchkey-bench-smoke-${name}-`));
  dirs.push(dir);
  const started = await srv.start({ root: ROOT, port: await freePort(), cpu: 0, pin: false, dir, client });
  try {
    for (const sc of scenarios) {
      const path = srv.paths[sc.endpoint];
      if (!path) continue;
      const ctx = { client, issuer: started.issuer };
      for (let i = 0; i < 3; i++) expect(await probe(started.issuer + path, sc, client, ctx), `${name} ${sc.name}`).toBeUndefined();
      // The check under load accepts what the thorough check accepted, and rejects an error body.
      const verify = sc.verifier({ client, issuer: started.issuer, reference: (ctx as { reference?: string }).reference });
      expect(verify('{"error":"invalid_client"}')).toBe(false);
    }
    await fn(started.issuer, dir);
  } finally {
    await started.proc.stop();
  }
}

describe('bench servers answer every bench scenario correctly', () => {
  it('Latchkey (client created with the CLI, then `serve`) issues opaque tokens and serves discovery and JWKS', async () => {
    await withServer('latchkey', async () => {});
  });

  it('oidc-provider as configured for the bench issues an opaque client_credentials token to the bench client', async () => {
    await withServer('oidc-provider', async (issuer) => {
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Basic ' + Buffer.from(`bench:${'x'.repeat(48)}`).toString('base64') },
        body: 'grant_type=client_credentials&scope=api%3Aread',
      });
      expect(res.status).toBe(401); // a wrong secret is refused, so the 200s above are real authentications
    });
  });

  it('oidc-provider with the bench SQLite adapter persists each token it issues', async () => {
    await withServer('oidc-provider-sqlite', async (_issuer, dir) => {
      const db = new Database(join(dir, 'data', 'oidc-provider.db'), { readonly: true });
      try {
        const row = db.prepare("SELECT count(*) AS n FROM oidc WHERE model = 'ClientCredentials'").get() as { n: number };
        expect(row.n).toBe(3);
      } finally {
        db.close();
      }
    });
  });

  it('Latchkey --workers 2 (a cluster sharing the port) issues tokens like the one-process server', async () => {
    await withServer('latchkey-w2', async () => {});
  });

  it.runIf(process.env.LATCHKEY_TEST_DATABASE_URL)('Latchkey on PostgreSQL, one process and --workers 2, issue tokens', async () => {
    await withServer('latchkey-pg', async () => {});
    await withServer('latchkey-pg-w2', async () => {});
  });

  it('the bare node:http baseline answers hello', async () => {
    await withServer('bare', async () => {});
  });
});
