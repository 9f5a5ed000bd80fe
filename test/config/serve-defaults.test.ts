import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { isLoopbackIssuer } from '../../src/config/schema.js';
import { checkServeConfig, startupWarnings } from '../../src/cli/serve.js';

const config = (env: Record<string, string>) => loadConfig({ env, file: undefined });
const warningsOf = (env: Record<string, string>) => {
  const lines: string[] = [];
  startupWarnings(config({ LATCHKEY_WORKERS: '1', ...env }), { warn: (m) => lines.push(m) });
  return lines;
};

describe('demo default: only on a loopback issuer (review 8 F2)', () => {
  it('loopback hosts are 127.0.0.0/8, ::1 and localhost; nothing else (not *.localhost: not every resolver sends it to loopback)', () => {
    for (const i of ['http://127.0.0.1:9000', 'http://127.1.2.3', 'http://localhost:9000', 'http://LOCALHOST', 'http://[::1]:9000', 'https://[::ffff:127.0.0.1]', 'http://127.1:9000', 'http://localhost.:9000']) {
      expect(isLoopbackIssuer(i), i).toBe(true);
    }
    for (const i of ['https://login.example.com', 'http://login.example.com', 'http://10.0.0.5:9000', 'http://[::2]', 'http://localhost.example.com', 'http://notlocalhost', 'http://auth.localhost:9000', 'http://[::ffff:128.0.0.1]', 'http://128.0.0.1', 'http://0.0.0.0:9000', 'http://[::]:9000']) {
      expect(isLoopbackIssuer(i), i).toBe(false);
    }
  });

  it('unset, demo is on for the out-of-the-box loopback issuer (npm start) and off for any other issuer', () => {
    expect(config({}).demo).toBe(true);
    expect(config({ LATCHKEY_ISSUER: 'http://localhost:9000' }).demo).toBe(true);
    expect(config({ LATCHKEY_ISSUER: 'https://login.example.com' }).demo).toBe(false);
    expect(config({ LATCHKEY_ISSUER: 'http://10.0.0.5:9000' }).demo).toBe(false);
  });

  it('an explicit value wins either way; demo: false never seeds', () => {
    expect(config({ LATCHKEY_ISSUER: 'https://login.example.com', LATCHKEY_DEMO: 'true' }).demo).toBe(true);
    expect(config({ LATCHKEY_DEMO: 'false' }).demo).toBe(false);
    expect(loadConfig({ env: {}, file: undefined, overrides: { issuer: 'https://login.example.com', demo: true } }).demo).toBe(true);
  });

  it('DESIGN conventions: demo on with a non-loopback issuer logs a warning at start naming the risk; the loopback default does not', () => {
    const w = warningsOf({ LATCHKEY_ISSUER: 'https://login.example.com', LATCHKEY_DEMO: 'true' });
    expect(w.filter((m) => /^demo is on/.test(m))).toHaveLength(1);
    expect(w.join('\n')).toMatch(/secrets are printed at start/);
    expect(warningsOf({}).filter((m) => /demo/.test(m))).toEqual([]);
    expect(warningsOf({ LATCHKEY_ISSUER: 'https://login.example.com' }).filter((m) => /demo/.test(m))).toEqual([]);
  });
});

describe('serve refuses an http issuer off loopback unless insecureHttpIssuer (review 8 F3)', () => {
  it('RFC 8414 §2: an http issuer on a non-loopback host stops serve with a one-line ConfigError naming the option', () => {
    const bad = config({ LATCHKEY_ISSUER: 'http://login.example.com' });
    expect(() => checkServeConfig(bad)).toThrow(ConfigError);
    expect(() => checkServeConfig(bad)).toThrow(/^issuer http:\/\/login\.example\.com is http on a host other than loopback: .*insecureHttpIssuer/);
    expect(() => checkServeConfig(config({ LATCHKEY_ISSUER: 'http://10.0.0.5:9000/auth' }))).toThrow(ConfigError);
  });

  it('https anywhere, and http on loopback, start without the option', () => {
    for (const issuer of ['https://login.example.com', 'http://127.0.0.1:9000', 'http://localhost:9000', 'http://[::1]:9000']) {
      expect(() => checkServeConfig(config({ LATCHKEY_ISSUER: issuer })), issuer).not.toThrow();
    }
  });

  it('the check is serve-only: loadConfig (library, tests) accepts an http issuer off loopback as an identifier', () => {
    expect(config({ LATCHKEY_ISSUER: 'http://login.example.com' }).issuer).toBe('http://login.example.com');
  });

  it('insecureHttpIssuer (LATCHKEY_INSECURE_HTTP_ISSUER) lets serve start and logs a warning at start', () => {
    const env = { LATCHKEY_ISSUER: 'http://login.example.com', LATCHKEY_INSECURE_HTTP_ISSUER: 'true' };
    expect(config(env).insecureHttpIssuer).toBe(true);
    expect(() => checkServeConfig(config(env))).not.toThrow();
    expect(warningsOf(env).filter((m) => /^insecureHttpIssuer is on/.test(m))).toHaveLength(1);
    // Where it changes nothing, it is not worth a warning.
    expect(warningsOf({ LATCHKEY_INSECURE_HTTP_ISSUER: 'true' }).filter((m) => /insecureHttpIssuer/.test(m))).toEqual([]);
    expect(config({}).insecureHttpIssuer).toBe(false);
  });
});

describe('insecureLegacyClientAssertionAudience (draft-ietf-oauth-rfc7523bis)', () => {
  it('DESIGN conventions: off by default; on (LATCHKEY_INSECURE_LEGACY_CLIENT_ASSERTION_AUDIENCE) it logs a warning at start naming the risk', () => {
    expect(config({}).insecureLegacyClientAssertionAudience).toBe(false);
    const env = { LATCHKEY_INSECURE_LEGACY_CLIENT_ASSERTION_AUDIENCE: 'true' };
    expect(config(env).insecureLegacyClientAssertionAudience).toBe(true);
    expect(warningsOf(env).filter((m) => /^insecureLegacyClientAssertionAudience is on: .*audience injection/.test(m))).toHaveLength(1);
    expect(warningsOf({}).filter((m) => /insecureLegacyClientAssertionAudience/.test(m))).toEqual([]);
  });
});

describe('serve warns when a loopback http issuer names another port than the one it listens on', () => {
  it('serve --port 8080 with the default issuer http://127.0.0.1:9000: one warning naming both ports and the issuer to set; none when they match, for port 0, https (a local TLS proxy) or an issuer off loopback', () => {
    const mismatch = (env: Record<string, string>) => warningsOf(env).filter((m) => /names port/.test(m));
    expect(mismatch({ LATCHKEY_PORT: '8080' })).toEqual([
      'issuer http://127.0.0.1:9000 names port 9000, but the server listens on port 8080: discovery, redirects and pages send clients to port 9000; set issuer to match (http://127.0.0.1:8080)',
    ]);
    expect(mismatch({ LATCHKEY_ISSUER: 'http://localhost:9000/auth', LATCHKEY_PORT: '9001' })).toHaveLength(1);
    expect(mismatch({})).toEqual([]);
    expect(mismatch({ LATCHKEY_ISSUER: 'http://127.0.0.1:8080', LATCHKEY_PORT: '8080' })).toEqual([]);
    expect(mismatch({ LATCHKEY_ISSUER: 'http://localhost', LATCHKEY_PORT: '80' })).toEqual([]);
    expect(mismatch({ LATCHKEY_PORT: '0' })).toEqual([]);
    expect(mismatch({ LATCHKEY_ISSUER: 'https://localhost:8443', LATCHKEY_PORT: '9000' })).toEqual([]);
    expect(mismatch({ LATCHKEY_ISSUER: 'https://login.example.com', LATCHKEY_PORT: '9000' })).toEqual([]);
  });
});
