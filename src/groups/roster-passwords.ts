// The generated passwords of an import, handed to the admin once as a CSV download without being
// stored anywhere: the result page carries them sealed (AES-256-GCM under a key derived from the
// session secret, bound to the admin and the group, valid for an hour), and the download route
// opens the seal. Nothing on the server keeps them, and nothing logs them.
import crypto from 'node:crypto';

const LIFETIME_MS = 60 * 60 * 1000;

export interface Generated {
  username: string;
  password: string;
}

function keyOf(secret: string): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', secret, 'tokenchat', 'roster-passwords', 32));
}

const bound = (adminId: number, groupId: number) => Buffer.from(`${adminId}:${groupId}`);

export function sealPasswords(secret: string, adminId: number, groupId: number, rows: Generated[], now = Date.now()): string {
  const iv = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv('aes-256-gcm', keyOf(secret), iv);
  cipher.setAAD(bound(adminId, groupId));
  const body = Buffer.concat([cipher.update(JSON.stringify({ at: now, rows })), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

/** The rows, or undefined when the seal is not ours, not this admin's and group's, or too old. */
export function openPasswords(secret: string, adminId: number, groupId: number, sealed: string, now = Date.now()): Generated[] | undefined {
  try {
    const raw = Buffer.from(sealed, 'base64url');
    const decipher = crypto.createDecipheriv('aes-256-gcm', keyOf(secret), raw.subarray(0, 12));
    decipher.setAAD(bound(adminId, groupId));
    decipher.setAuthTag(raw.subarray(12, 28));
    const { at, rows } = JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8')) as { at: number; rows: Generated[] };
    return now - at <= LIFETIME_MS && now >= at ? rows : undefined;
  } catch {
    return undefined;
  }
}
