import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

/**
 * A software authenticator for tests (W3C WebAuthn Level 2 §6): a P-256 key (ES256), "none" attestation, and the
 * JSON the page's script posts (ui/html.ts WEBAUTHN_SCRIPT). It answers what the page's options ask, for the origin
 * it is told, so a test can also make it answer wrongly (another origin, another challenge, a counter going back).
 */
export class SoftKey {
  readonly credentialId: Buffer = randomBytes(16);
  private readonly key: { privateKey: KeyObject; publicKey: KeyObject };
  /** The signature counter it reports next (§6.1.1); stays 0 for a key that keeps none. */
  counter: number;
  /** Its algorithm (COSE): ES256 (-7), EdDSA with Ed25519 (-8) or RS256 (-257). */
  readonly alg: -7 | -8 | -257;

  constructor(opts: { counter?: number; alg?: -7 | -8 | -257 } = {}) {
    this.counter = opts.counter ?? 0;
    this.alg = opts.alg ?? -7;
    this.key = this.alg === -7 ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : this.alg === -8 ? generateKeyPairSync('ed25519') : generateKeyPairSync('rsa', { modulusLength: 2048 });
  }

  /** The public key as a COSE_Key (RFC 9053 §7: EC2, OKP or RSA). */
  private cose(): Buffer {
    const jwk = this.key.publicKey.export({ format: 'jwk' });
    const b = (v: string | undefined) => Buffer.from(v!, 'base64url');
    if (this.alg === -7) return cbor(new Map<number, unknown>([[1, 2], [3, -7], [-1, 1], [-2, b(jwk.x)], [-3, b(jwk.y)]]));
    if (this.alg === -8) return cbor(new Map<number, unknown>([[1, 1], [3, -8], [-1, 6], [-2, b(jwk.x)]]));
    return cbor(new Map<number, unknown>([[1, 3], [3, -257], [-1, b(jwk.n)], [-2, b(jwk.e)]]));
  }

  get id(): string {
    return this.credentialId.toString('base64url');
  }

  /** The answer to navigator.credentials.create with `options` (§7.1), as the page's script serialises it. */
  register(options: CreationOptions, origin: string, overrides: { challenge?: string; rpId?: string; type?: string } = {}): string {
    const cose = this.cose();
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(this.credentialId.length);
    const authData = Buffer.concat([rpIdHash(overrides.rpId ?? options.rp.id), Buffer.from([0x41]), counterBytes(this.counter), Buffer.alloc(16), idLength, this.credentialId, cose]);
    const clientData = clientDataJSON(overrides.type ?? 'webauthn.create', overrides.challenge ?? options.challenge, origin);
    return JSON.stringify({
      id: this.id, rawId: this.id, type: 'public-key', clientExtensionResults: {},
      response: { clientDataJSON: clientData.toString('base64url'), attestationObject: cbor(new Map<string, unknown>([['fmt', 'none'], ['attStmt', new Map()], ['authData', authData]])).toString('base64url'), transports: ['usb'] },
    });
  }

  /** The answer to navigator.credentials.get with `options` (§7.2): user present, the counter moved on. */
  assert(options: RequestOptions, origin: string, overrides: { challenge?: string; rpId?: string; counter?: number; userHandle?: string } = {}): string {
    if (this.counter > 0 || overrides.counter !== undefined) this.counter = overrides.counter ?? this.counter + 1;
    const authData = Buffer.concat([rpIdHash(overrides.rpId ?? options.rpId), Buffer.from([0x01]), counterBytes(this.counter)]);
    const clientData = clientDataJSON('webauthn.get', overrides.challenge ?? options.challenge, origin);
    const signed = Buffer.concat([authData, createHash('sha256').update(clientData).digest()]);
    const signature = sign(this.alg === -8 ? null : 'sha256', signed, this.key.privateKey); // ECDSA in DER, as authenticators sign
    return JSON.stringify({
      id: this.id, rawId: this.id, type: 'public-key', clientExtensionResults: {},
      response: {
        clientDataJSON: clientData.toString('base64url'), authenticatorData: authData.toString('base64url'), signature: signature.toString('base64url'),
        ...(overrides.userHandle !== undefined ? { userHandle: overrides.userHandle } : {}),
      },
    });
  }
}

export interface CreationOptions {
  challenge: string;
  rp: { id: string; name: string };
  user: { id: string; name: string; displayName: string };
  pubKeyCredParams: { type: string; alg: number }[];
  excludeCredentials: { id: string; type: string }[];
  attestation: string;
  authenticatorSelection: Record<string, unknown>;
}
export interface RequestOptions {
  challenge: string;
  rpId: string;
  allowCredentials: { id: string; type: string }[];
  userVerification: string;
}

/** The options of the page's WebAuthn form (`data-webauthn="get"` or `"create"`), or undefined when it has none. */
export function pageWebauthnOptions<T = RequestOptions & CreationOptions>(html: string, kind: 'get' | 'create'): T | undefined {
  const m = new RegExp(`data-webauthn="${kind}" data-options="([^"]*)"`).exec(html);
  return m ? (JSON.parse(m[1]!.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')) as T) : undefined;
}

const rpIdHash = (rpId: string) => createHash('sha256').update(rpId).digest();
const clientDataJSON = (type: string, challenge: string, origin: string) => Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
const counterBytes = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

/** Enough CBOR (RFC 8949) for an attestation object and a COSE key: integers, byte and text strings, maps. */
export function cbor(v: unknown): Buffer {
  const head = (major: number, n: number): Buffer => {
    if (n < 24) return Buffer.from([(major << 5) | n]);
    if (n < 256) return Buffer.from([(major << 5) | 24, n]);
    if (n < 65536) return Buffer.from([(major << 5) | 25, n >> 8, n & 0xff]);
    const b = Buffer.alloc(5);
    b[0] = (major << 5) | 26;
    b.writeUInt32BE(n, 1);
    return b;
  };
  if (typeof v === 'number') return v >= 0 ? head(0, v) : head(1, -1 - v);
  if (Buffer.isBuffer(v)) return Buffer.concat([head(2, v.length), v]);
  if (typeof v === 'string') {
    const b = Buffer.from(v, 'utf8');
    return Buffer.concat([head(3, b.length), b]);
  }
  if (v instanceof Map) return Buffer.concat([head(5, v.size), ...[...v].flatMap(([k, x]) => [cbor(k), cbor(x)])]);
  throw new Error(`cbor: cannot encode ${typeof v}`);
}
