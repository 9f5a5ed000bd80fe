import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliFolder } from '../helpers/cli-folder.js';

describe('latchkey resource (RFC 8707 resource servers)', () => {
  const folder = cliFolder('latchkey-cli-rs-');
  const cli = folder.cli;
  beforeAll(() => folder.open());
  afterAll(() => folder.close());

  it('create with flags, list, delete; a bad identifier exits non-zero with one clear line', () => {
    const c = cli(['resource', 'create', '--identifier', 'https://api.example/', '--scope', 'orders:read orders:write', '--format', 'jwt', '--ttl', '600', '--json']);
    expect(c.err).toBe('');
    expect(c.code).toBe(0);
    expect(JSON.parse(c.out)).toMatchObject({ identifier: 'https://api.example/', scope: 'orders:read orders:write', access_token_format: 'jwt', access_token_lifetime: 600 });
    const l = JSON.parse(cli(['resource', 'list', '--json']).out);
    expect(l.map((r: any) => r.identifier)).toEqual(['https://api.example/']);
    const bad = cli(['resource', 'create', '--identifier', 'https://api.example/#frag']);
    expect(bad.code).not.toBe(0);
    expect(bad.err.trim().split('\n')).toHaveLength(1);
    expect(bad.err).toMatch(/identifier/);
    expect(cli(['resource', 'create', '--identifier', 'https://api.example/']).code).not.toBe(0); // exists
    expect(cli(['resource', 'delete', 'https://api.example/']).code).toBe(0);
    expect(cli(['resource', 'delete', 'https://api.example/']).code).not.toBe(0);
  });

  it('RFC 7662 §4: --introspection-client (repeatable) names the clients that introspect for it; list and show say so', () => {
    const ids = ['rs-one', 'rs-two'];
    for (const id of ids) expect(cli(['client', 'create', '--client-id', id, '--grant', 'client_credentials']).code).toBe(0);
    const c = cli(['resource', 'create', '--identifier', 'https://orders.example/', '--scope', 'orders:read', '--introspection-client', 'rs-one', '--introspection-client', 'rs-two', '--json']);
    expect(c.err).toBe('');
    expect(c.code).toBe(0);
    expect(JSON.parse(c.out)).toMatchObject({ identifier: 'https://orders.example/', introspection_clients: ids });
    const listed = JSON.parse(cli(['resource', 'list', '--json']).out).find((r: any) => r.identifier === 'https://orders.example/');
    expect(listed.introspection_clients).toEqual(ids);
    expect(cli(['resource', 'list']).out).toContain('introspection: rs-one rs-two');
    const shown = cli(['resource', 'show', 'https://orders.example/', '--json']);
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.out)).toEqual(JSON.parse(c.out));
    expect(cli(['resource', 'show', 'https://orders.example/']).out).toContain('introspection_clients: rs-one rs-two');
    const typo = cli(['resource', 'create', '--identifier', 'https://typo.example/', '--introspection-client', 'rs-onee']);
    expect(typo.code).not.toBe(0);
    expect(typo.err.trim().split('\n')).toHaveLength(1);
    expect(typo.err).toMatch(/introspection_clients: no client 'rs-onee'/);
    expect(cli(['resource', 'show', 'https://typo.example/']).code).not.toBe(0);
    // update: the current metadata with the options on top; --file replaces it (show --json round-trips)
    const u = cli(['resource', 'update', 'https://orders.example/', '--introspection-client', 'rs-two', '--json']);
    expect(u.code).toBe(0);
    expect(JSON.parse(u.out)).toMatchObject({ identifier: 'https://orders.example/', scope: 'orders:read', introspection_clients: ['rs-two'] });
    const edited = { ...JSON.parse(cli(['resource', 'show', 'https://orders.example/', '--json']).out) };
    delete edited.introspection_clients;
    const f = cli(['resource', 'update', 'https://orders.example/', '--file', '-', '--json'], JSON.stringify(edited));
    expect(f.err).toBe('');
    expect(JSON.parse(f.out).introspection_clients).toBeUndefined();
    expect(cli(['resource', 'update', 'https://nowhere.example/', '--scope', 'x']).code).not.toBe(0);
  });
});
