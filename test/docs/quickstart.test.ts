import { spawn, execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminDatabaseUrl, dropTestDatabase, testDatabaseUrl } from '../helpers/database.js';
import { startProcess, type RunningProcess } from '../helpers/process.js';
import { freePort } from '../helpers/server.js';

/** A marked block of a Markdown document: `<!-- marker -->` on the line before a fenced code block. */
interface Block {
  marker: string;
  lang: string;
  code: string;
}

function markedBlocks(markdown: string): Block[] {
  const out: Block[] = [];
  for (const m of markdown.matchAll(/<!--\s*([^>]*?)\s*-->\n```(\w+)\n([\s\S]*?)\n```/g)) {
    out.push({ marker: m[1]!, lang: m[2]!, code: m[3]! });
  }
  return out;
}

const DOC = 'docs/quickstart.md';
const doc = readFileSync(DOC, 'utf8');
const blocks = markedBlocks(doc);

/**
 * docs/quickstart.md is run, so it cannot rot: its `<!-- test: background -->` block (the server) is started, then
 * every `<!-- test -->` sh block runs in order in one bash (variables carry over), in a fresh folder, with `npx
 * latchkey` meaning this checkout's built CLI (test/package checks the installed bin). `<!-- excerpt: FILE -->` blocks
 * must be lines of FILE (`// …` marks a cut), so a quoted example stays a quote of the tested one.
 */
describe('docs/quickstart.md runs as written', () => {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-quickstart-'));
  let server: RunningProcess | undefined;
  let env: NodeJS.ProcessEnv;
  let databaseUrl: string | undefined;

  beforeAll(async () => {
    const shims = join(dir, 'bin');
    mkdirSync(shims);
    const realNpx = execFileSync('sh', ['-c', 'command -v npx'], { encoding: 'utf8' }).trim();
    writeFileSync(
      join(shims, 'npx'),
      `#!/bin/sh\nif [ "$1" = latchkey ]; then shift; exec "${process.execPath}" "${resolve('bin/latchkey.js')}" "$@"; fi\nexec "${realNpx}" "$@"\n`,
    );
    chmodSync(join(shims, 'npx'), 0o755);
    const port = await freePort();
    databaseUrl = adminDatabaseUrl() ? await testDatabaseUrl(dir) : undefined;
    env = {
      PATH: `${shims}:${process.env.PATH}`,
      HOME: process.env.HOME,
      LATCHKEY_ISSUER: `http://127.0.0.1:${port}`,
      LATCHKEY_PORT: String(port),
      LATCHKEY_LOG_LEVEL: 'silent',
      ...(databaseUrl ? { LATCHKEY_DATABASE_URL: databaseUrl } : {}),
    };
  });
  afterAll(async () => {
    await server?.stop();
    if (databaseUrl) await dropTestDatabase(databaseUrl);
    rmSync(dir, { recursive: true, force: true });
  });

  it('has the blocks this test expects: one background server, several shell steps, an excerpt', () => {
    expect(blocks.filter((b) => b.marker === 'test: background')).toHaveLength(1);
    expect(blocks.filter((b) => b.marker === 'test').length).toBeGreaterThanOrEqual(5);
    expect(blocks.filter((b) => b.marker.startsWith('excerpt:')).length).toBeGreaterThanOrEqual(1);
    for (const b of blocks.filter((b) => b.marker.startsWith('test'))) expect(b.lang).toBe('sh');
  });

  it('every excerpt is made of lines of the file it quotes', () => {
    for (const b of blocks.filter((b) => b.marker.startsWith('excerpt:'))) {
      const file = readFileSync(b.marker.slice('excerpt:'.length).trim(), 'utf8');
      const lines = new Set(file.split('\n'));
      for (const line of b.code.split('\n').filter((l) => l.trim() && l.trim() !== '// …')) expect(lines, `${b.marker}: ${line}`).toContain(line);
    }
  });

  it('the server starts and every step succeeds', async () => {
    const bg = blocks.find((b) => b.marker === 'test: background')!;
    expect(bg.code.trim().split('\n')).toHaveLength(1);
    server = await startProcess('bash', ['-c', `exec ${bg.code.trim()}`], { cwd: dir, env, readyPattern: /latchkey: serving (\S+)/, timeoutMs: 30_000 });
    expect(server.ready).toBe(env.LATCHKEY_ISSUER);

    const steps = blocks.filter((b) => b.marker === 'test').map((b, i) => `echo "::step ${i + 1}"\n${b.code}`);
    const script = `set -euo pipefail\n${steps.join('\n')}\n`;
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
      // Asynchronous: the steps call the server, and the test's own process must stay responsive meanwhile.
      const child = spawn('bash', ['-c', script], { cwd: dir, env });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('close', (c) => done({ code: c, stdout, stderr }));
    });
    expect(code, `a quickstart step failed:\n${stdout}\n${stderr}`).toBe(0);
    // What the prose says each step shows.
    expect(stdout).toContain(`${env.LATCHKEY_ISSUER}/oauth/token`);
    expect(stdout).toMatch(/got a token of \d+ characters/);
    expect(stdout).toMatch(/\{"active":true,"scope":"items:read","client_id":"[^"]+"/);
    expect(stdout).toContain('{"active":false}');
    expect(stdout).toMatch(/created user alice/);
  }, 90_000);
});
