// argon2id hashing with OWASP's parameters, behind a semaphore so that a flood of logins
// cannot occupy every core and starve other requests.
import argon2 from 'argon2';
import { Semaphore } from './limiter';

// OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1.
const OPTIONS = { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

export class PasswordHasher {
  private readonly gate: Semaphore;
  private readonly dummy: Promise<string>;

  constructor(concurrency: number, queueLimit: number) {
    this.gate = new Semaphore(concurrency, queueLimit);
    // Made once up front so the first unknown-user login costs what the others do.
    this.dummy = argon2.hash('tokenchat-dummy-password', OPTIONS);
  }

  hash(password: string): Promise<string> {
    return this.gate.run(() => argon2.hash(password, OPTIONS));
  }

  verify(hash: string, password: string): Promise<boolean> {
    return this.gate.run(async () => {
      try {
        return await argon2.verify(hash, password);
      } catch {
        return false; // a malformed stored hash never authenticates
      }
    });
  }

  /** Spends the same time as a real verification, for unknown usernames. */
  async verifyDummy(password: string): Promise<false> {
    await this.verify(await this.dummy, password);
    return false;
  }
}
