// What the CLI's commands share: configuration, the database, and one-line errors.
import fs from 'node:fs';
import { loadConfig, type Config } from '../config';
import { migrateStore, openStore, type AppStore } from '../db';
import { findByName, type User } from '../accounts/users';

/** An error whose message is the whole story: printed as one line, exit code 1. */
export class CliError extends Error {}

export function config(): Config {
  // A .env file in the working directory is read when present; real environment variables win.
  if (fs.existsSync('.env')) process.loadEnvFile('.env');
  return loadConfig();
}

/** Opens and migrates the database, runs `fn`, and always closes it. */
export async function withDatabase<T>(fn: (database: AppStore) => Promise<T>): Promise<T> {
  const database = openStore(config());
  try {
    await migrateStore(database);
    return await fn(database);
  } finally {
    await database.close();
  }
}

export async function userNamed(database: AppStore, name: string): Promise<User> {
  const user = await database.read(findByName, name);
  if (!user) throw new CliError(`no user named "${name}"`);
  return user;
}

/** A whole number of tokens, written plainly: "500" or "-500"; nothing else. */
export function parseAmount(text: string, { allowNegative }: { allowNegative: boolean }): number {
  const ok = allowNegative ? /^-?\d{1,13}$/ : /^\d{1,13}$/;
  const n = Number(text);
  if (!ok.test(text.trim()) || n === 0 || Math.abs(n) > 1_000_000_000_000) {
    throw new CliError(`amount must be a whole number from 1 to 1000000000000${allowNegative ? ' (negative to deduct)' : ''}, not "${text}"`);
  }
  return n;
}
