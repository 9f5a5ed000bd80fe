import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliFolder } from '../helpers/cli-folder.js';

/** RFC 9396 §10 through the CLI: the server's types from the environment, a client's authorization_details_types from --file. */
describe('latchkey CLI: authorization_details_types (RFC 9396 §10)', () => {
  const folder = cliFolder('latchkey-cli-rar-');
  const cli = folder.cli;
  beforeAll(() => folder.open());
  afterAll(() => folder.close());

  it('client create --file registers authorization_details_types the server supports (LATCHKEY_AUTHORIZATION_DETAILS_TYPES), and refuses others', () => {
    expect(cli(['init', '--json']).code).toBe(0);
    const types = { LATCHKEY_AUTHORIZATION_DETAILS_TYPES: 'payment_initiation, account_information' };
    const meta = { client_id: 'bank-app', redirect_uris: ['https://rp.example/cb'], authorization_details_types: ['payment_initiation'] };
    const ok = cli(['client', 'create', '--file', '-', '--json'], JSON.stringify(meta), types);
    expect(ok.code, ok.err).toBe(0);
    expect(JSON.parse(ok.out).authorization_details_types).toEqual(['payment_initiation']);
    const other = cli(['client', 'create', '--file', '-', '--json'], JSON.stringify({ ...meta, client_id: 'photo-app', authorization_details_types: ['photo_sharing'] }), types);
    expect(other.code).not.toBe(0);
    expect(other.err).toMatch(/authorization_details_types/);
    // Off (no types configured): nothing can be registered.
    const off = cli(['client', 'create', '--file', '-', '--json'], JSON.stringify({ ...meta, client_id: 'bank-app-2' }));
    expect(off.code).not.toBe(0);
  });
});
