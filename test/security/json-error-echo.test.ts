import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { jsonSyntaxProblem } from '../../src/ops/json-error.js';
import { cliFolder } from '../helpers/cli-folder.js';
import { core, testService } from '../helpers/core-api.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * A JSON text that does not parse is named by where it broke, never quoted: V8's messages quote the text around the
 * fault, and these texts hold secrets (a config file's keyEncryptionKey or database password, a client's metadata
 * with its client_secret, a Core API body with a client secret).
 */
const SECRET = 'S' + randomBytes(24).toString('hex');
/** Broken the ways V8 quotes the text ("Unexpected token …, ..."<text>"... is not valid JSON"). */
const BROKEN = [`{"keyEncryptionKey": ${SECRET}}`, `{"databaseUrl": "postgres://u:${SECRET}@db/x" x}`, `{"client_secret": "${SECRET}"`, `{"client_secret": '${SECRET}'}`];

describe('a JSON syntax error never repeats the text', () => {
  it('jsonSyntaxProblem: a position, "ends too early" or "unexpected character"', () => {
    for (const text of BROKEN) {
      let err: unknown;
      try {
        JSON.parse(text);
      } catch (e) {
        err = e;
      }
      expect(jsonSyntaxProblem(err)).toMatch(/^(at position \d+|it ends too early|unexpected character)$/);
    }
    // The V8 message of at least one of them quotes the secret itself: what used to reach stderr.
    expect(BROKEN.some((t) => { try { JSON.parse(t); } catch (e) { return (e as Error).message.includes(SECRET.slice(0, 6)); } return false; })).toBe(true);
  });

  it('a config file that does not parse: the ConfigError names the file, not its text', () => {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-json-'));
    try {
      for (const text of BROKEN) {
        const file = join(dir, 'latchkey.config.json');
        writeFileSync(file, text);
        let message = '';
        try {
          loadConfig({ env: {}, file });
        } catch (e) {
          message = (e as Error).message;
        }
        expect(message).toMatch(/^cannot read config file .*latchkey\.config\.json: not valid JSON \(/);
        expect(message).not.toContain(SECRET.slice(0, 6));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('the CLI (built dist/)', () => {
    const f = cliFolder('latchkey-json-cli-');
    beforeAll(async () => {
      await f.open();
      expect(f.cli(['init']).code).toBe(0);
    });
    afterAll(() => f.close());

    it('client create --file with broken JSON: stderr says where, not what', () => {
      for (const text of BROKEN) {
        writeFileSync(join(f.dir, 'client.json'), text);
        const r = f.cli(['client', 'create', '--file', 'client.json']);
        expect(r.code).not.toBe(0);
        expect(r.err).toMatch(/client\.json is not valid JSON \(/);
        expect(r.out + r.err).not.toContain(SECRET.slice(0, 6));
        const stdin = f.cli(['client', 'create', '--file', '-'], text);
        expect(stdin.err).toMatch(/stdin is not valid JSON \(/);
        expect(stdin.out + stdin.err).not.toContain(SECRET.slice(0, 6));
      }
    });
  });

  describe('the Core API', () => {
    let s: TestServer;
    beforeAll(async () => {
      s = await startTestServer();
    });
    afterAll(() => s.close());

    it('a body that does not parse is LK11001 with a position, not a quote', async () => {
      const svc = await testService(s, 'jsonerr');
      for (const text of BROKEN) {
        const r = await core(s, svc.id, 'auth/token', text.replace('keyEncryptionKey', 'clientSecret'), svc.token);
        expect(r.status).toBe(400);
        expect(r.json.resultCode).toBe('LK11001');
        expect(r.text).not.toContain(SECRET.slice(0, 6));
      }
    });
  });
});
