// Keys of the payment gateways, read once at start-up from files whose paths are settings. Each is
// checked here, so a wrong or unreadable file stops start-up naming its setting instead of failing
// the first payment. Alipay hands keys out as bare base64 (PKCS#1 or PKCS#8) as well as PEM.
import crypto from 'node:crypto';
import fs from 'node:fs';

export class KeyFileError extends Error {}

function read(setting: string, file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new KeyFileError(`${setting} ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

const wrap = (base64: string, label: string) => `-----BEGIN ${label}-----\n${base64.replace(/\s+/g, '').replace(/(.{64})/g, '$1\n').trim()}\n-----END ${label}-----`;

/** An RSA private key as PKCS#8 PEM. */
export function readPrivateKey(setting: string, file: string): string {
  const text = read(setting, file);
  const tries = text.includes('-----BEGIN') ? [text] : [wrap(text, 'PRIVATE KEY'), wrap(text, 'RSA PRIVATE KEY')];
  for (const pem of tries) {
    try {
      const key = crypto.createPrivateKey(pem);
      if (key.asymmetricKeyType !== 'rsa') break;
      return key.export({ type: 'pkcs8', format: 'pem' }).toString();
    } catch {
      // the next form
    }
  }
  throw new KeyFileError(`${setting} ${file} is not an RSA private key (PEM, or base64 PKCS#1 or PKCS#8)`);
}

/** An RSA public key as SPKI PEM, from a public key (PEM or base64) or an X.509 certificate. */
export function readPublicKey(setting: string, file: string): string {
  const text = read(setting, file);
  try {
    const key = text.includes('BEGIN CERTIFICATE') ? new crypto.X509Certificate(text).publicKey : crypto.createPublicKey(text.includes('-----BEGIN') ? text : wrap(text, 'PUBLIC KEY'));
    if (key.asymmetricKeyType === 'rsa') return key.export({ type: 'spki', format: 'pem' }).toString();
  } catch {
    // said below
  }
  throw new KeyFileError(`${setting} ${file} is not an RSA public key or certificate`);
}

/** WeChat Pay's APIv3 key: 32 characters, the AES-256 key of its notifications. */
export function readApiV3Key(setting: string, file: string): Buffer {
  const key = Buffer.from(read(setting, file), 'utf8');
  if (key.length !== 32) throw new KeyFileError(`${setting} ${file} must hold the 32-character APIv3 key`);
  return key;
}
