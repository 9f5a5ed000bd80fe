import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { openStore, withStatementCache } from '../../src/store/open.js';

describe('SQLite statement cache', () => {
  it('prepares each SQL text once and reuses the statement', () => {
    const db = new Database(':memory:');
    const cached = withStatementCache(db);
    const a = cached.prepare('select 1 as x');
    expect(cached.prepare('select 1 as x')).toBe(a);
    expect(cached.prepare('select 2 as x')).not.toBe(a);
    cached.close();
  });

  it('stays bounded: the oldest statement is dropped past the limit', () => {
    const db = new Database(':memory:');
    const cached = withStatementCache(db, 2);
    const one = cached.prepare('select 1');
    cached.prepare('select 2');
    cached.prepare('select 3');
    expect(cached.prepare('select 1')).not.toBe(one);
    cached.close();
  });

  it('the store works through it, inside and outside transactions, with rollback', async () => {
    const store = await openStore({ url: 'sqlite::memory:' });
    await store.createTenant({ id: 't', issuer: 'https://t.example', settings: {}, createdAt: 1 });
    const client = {
      tenantId: 't', clientId: 'c', secretHash: null, createdAt: 1, redirectUris: [], grantTypes: ['client_credentials'], responseTypes: [],
      scope: ['a'], tokenEndpointAuthMethod: 'none' as const, applicationType: 'web' as const, idTokenSignedResponseAlg: 'RS256',
      requirePkce: true, skipConsent: false,
    };
    await expect(store.transaction(async (tx) => {
      await tx.createClient(client);
      expect((await tx.findClient('t', 'c'))?.clientId).toBe('c');
      throw new Error('roll back');
    })).rejects.toThrow('roll back');
    expect(await store.findClient('t', 'c')).toBeUndefined();
    await store.createClient(client);
    for (let i = 0; i < 3; i++) expect(await store.findClient('t', 'c')).toEqual(client);
    await store.close();
  });
});
