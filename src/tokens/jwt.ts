import { constants, sign, type KeyObject } from 'node:crypto';

/** Algorithms we sign with. `none` is never among them. */
export const SIGNING_ALGS = ['ES256', 'RS256', 'PS256', 'EdDSA'] as const;
export type SigningAlg = (typeof SIGNING_ALGS)[number];

export interface SigningKey {
  kid: string;
  alg: SigningAlg;
  privateKey: KeyObject;
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/**
 * Mint a compact JWS for tokens we issue. This is the only signing path and it uses node:crypto with a cached
 * KeyObject (~27 µs for ES256, against ~91 µs through WebCrypto); every output is verified with `jose` in the
 * tests. Anything that parses or verifies untrusted JWTs uses `jose`.
 */
export function signJwt(key: SigningKey, payload: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  const input = `${b64({ alg: key.alg, kid: key.kid, ...header })}.${b64(payload)}`;
  const data = Buffer.from(input);
  let sig: Buffer;
  switch (key.alg) {
    case 'ES256':
      sig = sign('sha256', data, { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
      break;
    case 'RS256':
      sig = sign('sha256', data, key.privateKey);
      break;
    case 'PS256':
      // RFC 7518 §3.5: salt length equals the hash output length.
      sig = sign('sha256', data, { key: key.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
      break;
    case 'EdDSA':
      sig = sign(null, data, key.privateKey);
      break;
  }
  return `${input}.${sig.toString('base64url')}`;
}

/*
 * Signing with the tokens of the same event-loop turn. An ES256 signature costs ~25 µs when signatures follow one
 * another but ~42 µs inside a server that runs HTTP parsing, SQLite and the engine between two of them: OpenSSL's
 * P-256 precomputed tables (~150 KB) fall out of the CPU caches. Signing a turn's tokens back to back in its check
 * phase, as the group commit and the fast path's replies already wait for, makes a JWT client_credentials token
 * cheaper; how much depends on how many tokens one turn holds (bench/README.md, fifth round). A token waits at most for the rest of the current turn.
 * Only for callers outside a store transaction: the wait would hold the transaction's connection.
 */
interface PendingSignature {
  key: SigningKey;
  payload: Record<string, unknown>;
  header: Record<string, unknown>;
  resolve: (jws: string) => void;
  reject: (e: unknown) => void;
}
let pendingSignatures: PendingSignature[] = [];

function signPending(): void {
  const batch = pendingSignatures;
  pendingSignatures = [];
  for (const s of batch) {
    try {
      s.resolve(signJwt(s.key, s.payload, s.header));
    } catch (e) {
      s.reject(e);
    }
  }
}

/** signJwt, done with the other signatures asked for during this turn of the event loop (see above). */
export function signJwtWithTurn(key: SigningKey, payload: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    if (pendingSignatures.push({ key, payload, header, resolve, reject }) === 1) setImmediate(signPending);
  });
}
