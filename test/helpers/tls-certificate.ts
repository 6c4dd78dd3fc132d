import { execFileSync } from 'node:child_process';
import path from 'node:path';

export interface TlsFiles {
  /** The certificate; self-signed, so it is also the CA file a client trusts it through. */
  cert: string;
  key: string;
}

/**
 * A self-signed certificate for 127.0.0.1 and localhost, made with Debian's openssl in `dir`: a
 * private CA as far as any client can tell, which trusts it only when given the file.
 */
export function makeSelfSignedCertificate(dir: string): TlsFiles {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
    '-subj', '/CN=lock-service test', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ], { stdio: 'ignore' });
  return { cert, key };
}
