import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A certificate and its key, PEM, with the files they are in. */
export interface Pem {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

export interface TestPki {
  dir: string;
  ca: Pem;
  /** Server certificate for 127.0.0.1 / localhost, issued by the CA. */
  server: Pem;
  /** Issues a client certificate signed by the CA (or by `issuer`). */
  client(name: string, subject: string, san?: string, issuer?: Pem, days?: number): Pem;
  /** A self-signed certificate. */
  selfSigned(name: string, subject: string): Pem;
  /** Another CA, not trusted by the server. */
  otherCa: Pem;
  cleanup(): void;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A throw-away PKI made with the openssl command line at test time (EC P-256 keys). */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-pki-'));
  const pem = (name: string): Pem => ({
    cert: readFileSync(join(dir, `${name}.pem`), 'utf8'),
    key: readFileSync(join(dir, `${name}.key`), 'utf8'),
    certFile: join(dir, `${name}.pem`),
    keyFile: join(dir, `${name}.key`),
  });
  const newCa = (name: string, cn: string) => {
    openssl(dir, [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`,
      '-days', '2', '-subj', `/CN=${cn}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    return pem(name);
  };
  const issue = (name: string, subject: string, san: string | undefined, issuer: Pem, days: number, serverAuth: boolean) => {
    openssl(dir, ['req', '-utf8', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
    const ext = [`extendedKeyUsage=${serverAuth ? 'serverAuth' : 'clientAuth'}`, 'basicConstraints=CA:FALSE'];
    if (san) ext.push(`subjectAltName=${san}`);
    writeFileSync(join(dir, `${name}.ext`), ext.join('\n') + '\n');
    openssl(dir, [
      'x509', '-req', '-in', `${name}.csr`, '-CA', issuer.certFile, '-CAkey', issuer.keyFile, '-CAcreateserial', '-out', `${name}.pem`,
      '-days', String(days), '-extfile', `${name}.ext`,
    ]);
    return pem(name);
  };
  const ca = newCa('ca', 'Latchkey Test CA');
  const otherCa = newCa('other-ca', 'Untrusted CA');
  const server = issue('server', '/CN=127.0.0.1', 'IP:127.0.0.1,DNS:localhost', ca, 2, true);
  return {
    dir,
    ca,
    otherCa,
    server,
    client: (name, subject, san, issuer = ca, days = 1) => issue(name, subject, san, issuer, days, false),
    selfSigned: (name, subject) => {
      openssl(dir, [
        'req', '-utf8', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`,
        '-days', '1', '-subj', subject, '-addext', 'extendedKeyUsage=clientAuth',
      ]);
      return pem(name);
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
