// A minimal oidc-provider adapter over better-sqlite3, written for this bench so that oidc-provider can be
// measured persisting its artifacts the way Latchkey does (one SQLite file, WAL, synchronous=NORMAL), rather
// than only with its development in-memory adapter. Implements the adapter interface oidc-provider documents:
// upsert, find, findByUid, findByUserCode, consume, destroy, revokeByGrantId.
import Database from 'better-sqlite3';

let db;
let stmts;

export function openAdapterDatabase(path) {
  db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.exec(`CREATE TABLE IF NOT EXISTS oidc (
    model TEXT NOT NULL, id TEXT NOT NULL, payload TEXT NOT NULL, grant_id TEXT, uid TEXT, user_code TEXT,
    expires_at INTEGER, consumed_at INTEGER, PRIMARY KEY (model, id))`);
  db.exec('CREATE INDEX IF NOT EXISTS oidc_grant ON oidc (grant_id)');
  stmts = {
    upsert: db.prepare(`INSERT INTO oidc (model, id, payload, grant_id, uid, user_code, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (model, id) DO UPDATE SET payload = excluded.payload, grant_id = excluded.grant_id, uid = excluded.uid,
      user_code = excluded.user_code, expires_at = excluded.expires_at`),
    find: db.prepare('SELECT payload, expires_at, consumed_at FROM oidc WHERE model = ? AND id = ?'),
    findByUid: db.prepare('SELECT payload, expires_at, consumed_at FROM oidc WHERE model = ? AND uid = ?'),
    findByUserCode: db.prepare('SELECT payload, expires_at, consumed_at FROM oidc WHERE model = ? AND user_code = ?'),
    consume: db.prepare('UPDATE oidc SET consumed_at = ? WHERE model = ? AND id = ?'),
    destroy: db.prepare('DELETE FROM oidc WHERE model = ? AND id = ?'),
    revokeByGrantId: db.prepare('DELETE FROM oidc WHERE grant_id = ?'),
  };
}

const now = () => Math.floor(Date.now() / 1000);

function row(r) {
  if (!r || (r.expires_at !== null && r.expires_at <= now())) return undefined;
  const payload = JSON.parse(r.payload);
  if (r.consumed_at !== null) payload.consumed = r.consumed_at;
  return payload;
}

export class SqliteAdapter {
  constructor(model) {
    this.model = model;
  }

  async upsert(id, payload, expiresIn) {
    const expiresAt = expiresIn ? now() + expiresIn : null;
    stmts.upsert.run(this.model, id, JSON.stringify(payload), payload.grantId ?? null, payload.uid ?? null, payload.userCode ?? null, expiresAt);
  }

  async find(id) {
    return row(stmts.find.get(this.model, id));
  }

  async findByUid(uid) {
    return row(stmts.findByUid.get(this.model, uid));
  }

  async findByUserCode(userCode) {
    return row(stmts.findByUserCode.get(this.model, userCode));
  }

  async consume(id) {
    stmts.consume.run(now(), this.model, id);
  }

  async destroy(id) {
    stmts.destroy.run(this.model, id);
  }

  async revokeByGrantId(grantId) {
    stmts.revokeByGrantId.run(grantId);
  }
}
