import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { METHODS_NOT_ALLOWED, POST_ONLY_ENDPOINTS } from '../../src/http/method-not-allowed.js';

/** The routes Fastify registered, as [path, methods] (HEAD is implied by GET), from its printRoutes() tree. */
function routesOf(tree: string): Array<[string, string[]]> {
  const out: Array<[string, string[]]> = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^((?:│ {3}| {4})*)[├└]── (\S+)(?: \(([^)]*)\))?/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    if (m[3]) out.push([stack.join(''), m[3].split(', ').filter((x) => x !== 'HEAD')]);
  }
  return out;
}

/** docs/endpoints.md must list every route the server answers, with its methods: a new endpoint needs its row. */
describe('docs/endpoints.md is current', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ demo: true });
  });
  afterAll(() => s.close());

  it('every route of the server has a row naming its path and methods', () => {
    const rows = readFileSync('docs/endpoints.md', 'utf8').split('\n').filter((l) => l.startsWith('| '));
    const routes = routesOf(s.app.printRoutes({ commonPrefix: false }));
    expect(routes.length).toBeGreaterThan(10);
    const doc = readFileSync('docs/endpoints.md', 'utf8');
    for (const [path, all] of routes) {
      // The 405 answers of the POST-only endpoints are described once, in the paragraph naming each of them.
      const postOnly = POST_ONLY_ENDPOINTS.find((e) => path.endsWith(e));
      if (postOnly) expect(doc, `${postOnly}'s 405 answer is not described`).toMatch(new RegExp(`POST-only endpoints \\([^)]*\`${postOnly}\``));
      const methods = postOnly ? all.filter((m) => !(METHODS_NOT_ALLOWED as readonly string[]).includes(m)) : all;
      const row = rows.find((r) => r.includes('`' + path + '`'));
      expect(row, `no row for ${path} in docs/endpoints.md`).toBeDefined();
      const cell = row!.split('|')[1]!;
      for (const m of methods) expect(cell, `${path}: ${m} not in the row's methods`).toContain(m);
    }
  });
});
