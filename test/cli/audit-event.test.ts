import { describe, expect, it } from 'vitest';
import { cliAuditEvent } from '../../src/cli/main.js';

/*
 * A CLI write's audit event takes its ids from the command's argument or from what the operation reported
 * (CliWrite): never from the command's printed output, which is for people (and differs with --json).
 */
describe('cliAuditEvent: the ids come from the operation, not from what was printed', () => {
  it('a create names what it made (client_id, sub, token id, resource identifier) as the operation reported it', () => {
    expect(cliAuditEvent('client', 'create', undefined, {}, { created: 'app-1' })).toEqual({
      tenantId: 'default', type: 'admin.action', clientId: 'app-1', subject: null, detail: { source: 'cli', command: 'client create', target: 'app-1' },
    });
    expect(cliAuditEvent('user', 'create', undefined, { tenant: 't1' }, { created: 'sub-9' })).toMatchObject({ tenantId: 't1', subject: 'sub-9', detail: { target: 'sub-9' } });
    expect(cliAuditEvent('service-token', 'create', undefined, { service: 'svc' }, { created: 'st-1' })).toMatchObject({ tenantId: 'svc', detail: { target: 'st-1' } });
    expect(cliAuditEvent('resource', 'create', undefined, {}, { created: 'https://api.example' })).toMatchObject({ detail: { target: 'https://api.example' } });
    expect(cliAuditEvent('keys', 'rotate', undefined, {}, { kids: ['k1', 'k2'] })).toMatchObject({ detail: { command: 'keys rotate', kids: ['k1', 'k2'] } });
  });

  it('a write on a named thing names the argument; reads are no event', () => {
    expect(cliAuditEvent('client', 'delete', 'app-1', {}, {})).toMatchObject({ clientId: 'app-1', detail: { target: 'app-1' } });
    expect(cliAuditEvent('keys', 'retire', 'kid-1', {}, {})).toMatchObject({ detail: { target: 'kid-1' } });
    expect(cliAuditEvent('session', 'end', 'sid-1', { tenant: 'ignored' }, {})).toMatchObject({ tenantId: 'default', detail: { target: 'sid-1' } });
    expect(cliAuditEvent('client', 'list', undefined, {}, {})).toBeUndefined();
    expect(cliAuditEvent('user', 'create', undefined, {}, {})).toMatchObject({ subject: null, detail: { source: 'cli', command: 'user create' } });
  });
});
