import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineContext } from '../../src/engine/context.js';
import {
  authorization, authorizationFail, authorizationFailPending, authorizationIssue, authorizationIssuePending,
} from '../../src/engine/authorization/index.js';
import { deviceAuthorization, deviceComplete } from '../../src/engine/device.js';
import { pushedAuthorizationRequest } from '../../src/engine/par.js';
import { isStoreRejectedInput } from '../../src/store/unavailable.js';
import { Agent } from '../helpers/agent.js';
import { core, testService } from '../helpers/core-api.js';
import { adminDatabaseUrl } from '../helpers/database.js';
import { basic, openTestLatchkey, startTestServer, type TestLatchkey, type TestServer } from '../helpers/server.js';

const CB = 'https://rp.example/cb';
const challenge = createHash('sha256').update('v'.repeat(43)).digest('base64url');

/** What PostgreSQL answers for a NUL byte in text (SQLSTATE 22021): a value the store refuses. */
const refused = () => Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { code: '22021' });

/** The context with a store whose named methods refuse their input, as the database would. */
function refusing(ctx: EngineContext, methods: string[]): EngineContext {
  const store = new Proxy(ctx.store, {
    get(target, prop, receiver) {
      if (methods.includes(String(prop))) return () => Promise.reject(refused());
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { ...ctx, store, log: undefined };
}

/**
 * A value the database refuses (isStoreRejectedInput) is the client's invalid_request (400), never a 500: in
 * runEngine and in every authorization step that catches on its own (ticket, issue, fail, their pending forms), PAR
 * and device completion, through one rule (clientErrorOf).
 */
describe('a value the store refuses is invalid_request in every authorization step', () => {
  let t: TestLatchkey;
  let rp: { clientId: string; clientSecret?: string };
  beforeAll(async () => {
    t = await openTestLatchkey();
    rp = await t.client({ redirect_uris: [CB], grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'], scope: 'openid' });
  });
  afterAll(() => t.close());

  const request = (state: string) =>
    new URLSearchParams({ client_id: rp.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state, code_challenge: challenge, code_challenge_method: 'S256' }).toString();
  const isInvalidRequest = (r: { status: number; action: string; responseContent: string }) => {
    expect(r.status).toBe(400);
    expect(r.action).toBe('BAD_REQUEST');
    expect(JSON.parse(r.responseContent)).toMatchObject({ error: 'invalid_request' });
  };

  it('RFC 6749 §4.1.2.1: storing the ticket refused: the error goes back to the verified redirect URI, with state', async () => {
    const r = await authorization({ parameters: request('s1') }, refusing(t.ctx, ['insertTicket']));
    expect(r.action).toBe('LOCATION');
    const back = new URL(r.responseContent);
    expect(back.searchParams.get('error')).toBe('invalid_request');
    expect(back.searchParams.get('state')).toBe('s1');
  });

  it('the issue step (parked or pending): storing the grant refused is invalid_request', async () => {
    const parked = await authorization({ parameters: request('s2') }, t.ctx);
    isInvalidRequest(await authorizationIssue({ ticket: parked.ticket!, subject: 'u1', authTime: 1 }, refusing(t.ctx, ['insertGrantWithCode'])));
    const deferred = await authorization({ parameters: request('s3') }, t.ctx, { defer: true });
    isInvalidRequest(await authorizationIssuePending(deferred.pending!, { subject: 'u1', authTime: 1 }, refusing(t.ctx, ['insertGrantWithCode'])));
  });

  it('the fail step (parked or pending): a refused ticket lookup is invalid_request', async () => {
    const parked = await authorization({ parameters: request('s4') }, t.ctx);
    isInvalidRequest(await authorizationFail({ ticket: parked.ticket!, reason: 'ACCESS_DENIED' }, refusing(t.ctx, ['consumeTicket'])));
    const deferred = await authorization({ parameters: request('s5') }, t.ctx, { defer: true });
    await deferred.pending!.park();
    isInvalidRequest(await authorizationFailPending(deferred.pending!, { reason: 'ACCESS_DENIED' }, refusing(t.ctx, ['consumeTicket'])));
  });

  it('RFC 9126 §2.3: PAR with the pushed request refused is invalid_request', async () => {
    const r = await pushedAuthorizationRequest(
      { parameters: request('s6'), contentType: 'application/x-www-form-urlencoded', authorization: basic(rp.clientId, rp.clientSecret!) },
      refusing(t.ctx, ['insertPushedRequest']),
    );
    expect(r.status).toBe(400);
    expect(JSON.parse(r.responseContent)).toMatchObject({ error: 'invalid_request' });
  });

  it('RFC 8628 §3.3: the device decision with a subject the store refuses is INVALID_REQUEST', async () => {
    const started = await deviceAuthorization({ parameters: `client_id=${rp.clientId}&scope=openid`, authorization: basic(rp.clientId, rp.clientSecret!) }, t.ctx);
    const userCode = JSON.parse(started.responseContent).user_code as string;
    const r = await deviceComplete({ userCode, result: 'AUTHORIZED', subject: 'u1', authTime: 1 }, refusing(t.ctx, ['decideDeviceCode']));
    expect(r.status).toBe(400);
    expect(r.action).toBe('INVALID_REQUEST');
  });
});

describe('a value the store refuses over HTTP: the UI\'s decide path and the Core API', () => {
  let s: TestServer;
  let rp: { clientId: string; clientSecret?: string };
  beforeAll(async () => {
    s = await startTestServer();
    rp = await s.client({ redirect_uris: [CB], grant_types: ['authorization_code'], scope: 'openid', skip_consent: true });
    await s.user('rita', 'rita-password');
  });
  afterAll(() => s.close());

  it('GET /oauth/authorize with a session, issuing at once: a refused grant is the engine\'s invalid_request page, not a 500', async () => {
    const agent = new Agent(s.issuer);
    const url = (state: string) =>
      `${s.issuer}/oauth/authorize?` + new URLSearchParams({ client_id: rp.clientId, redirect_uri: CB, response_type: 'code', scope: 'openid', state, code_challenge: challenge, code_challenge_method: 'S256' });
    await agent.authorize(url('first'), 'rita', 'rita-password'); // signs in: the session cookie
    const store = s.lk.store;
    const insert = store.insertGrantWithCode;
    store.insertGrantWithCode = () => Promise.reject(refused());
    try {
      const r = await agent.request(url('second'));
      expect(r.status).toBe(400);
      expect(r.html).toContain('Error: invalid_request');
    } finally {
      store.insertGrantWithCode = insert;
    }
    expect((await agent.request(url('third'))).location).toMatch(/code=/);
  });

  it('Core API auth/authorization/issue: a subject PostgreSQL cannot hold (a NUL byte) is BAD_REQUEST, never a 500', async () => {
    const svc = await testService(s, 'refusals');
    const c = await svc.client({ redirect_uris: [CB], grant_types: ['authorization_code'], scope: 'openid' });
    const started = await core(s, svc.id, 'auth/authorization', { parameters: `client_id=${c.clientId}&redirect_uri=${encodeURIComponent(CB)}&response_type=code&scope=openid&code_challenge=${challenge}&code_challenge_method=S256` }, svc.token);
    expect(started.json.action).toBe('INTERACTION');
    const issued = await core(s, svc.id, 'auth/authorization/issue', { ticket: started.json.ticket, subject: 'user\u0000x', authTime: 1 }, svc.token);
    expect(issued.status).not.toBe(500);
    if (adminDatabaseUrl()) {
      // PostgreSQL refuses the NUL (SQLSTATE 22021): the caller's error.
      expect(issued.json).toMatchObject({ action: 'BAD_REQUEST', resultCode: 'LK0004' });
    } else {
      // SQLite stores it as given.
      expect(issued.json.action).toBe('LOCATION');
    }
  });
});

describe('isStoreRejectedInput: the database refusing a value, not failing', () => {
  it('PostgreSQL: a NUL or untranslatable character, a value too long for its column or its index are the client\'s; other limits and errors are not', () => {
    const pgError = (code: string, message = 'x') => Object.assign(new Error(message), { code });
    expect(isStoreRejectedInput(pgError('22021'))).toBe(true);
    expect(isStoreRejectedInput(pgError('22P05'))).toBe(true);
    expect(isStoreRejectedInput(pgError('22001', 'value too long for type character varying(255)'))).toBe(true);
    expect(isStoreRejectedInput(pgError('54000', 'index row size 3016 exceeds btree version 4 maximum 2704 for index "idx_0004_grants_subject"'))).toBe(true);
    expect(isStoreRejectedInput(new Error('wrapped', { cause: pgError('22021') }))).toBe(true);
    expect(isStoreRejectedInput(pgError('54000', 'target lists can have at most 1664 entries'))).toBe(false);
    expect(isStoreRejectedInput(pgError('23505', 'duplicate key value violates unique constraint'))).toBe(false);
    expect(isStoreRejectedInput(new Error('boom'))).toBe(false);
  });
});
