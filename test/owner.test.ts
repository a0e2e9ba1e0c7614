// Which process took a hold (ledger/owner.ts): a process gone from this pid table is known at once;
// anything not known to be gone (another pid table, another host, a live pid, an old hold with no
// owner) is left to the recovery window, so a live answer's hold is never closed under it.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { ownerGone, PROCESS_OWNER } from '../src/ledger/owner';

const [host, pid, start, table] = PROCESS_OWNER.split('|');
const deadPid = () => spawnSync(process.execPath, ['-e', '0']).pid!; // exited (and reaped) when spawnSync returns

test('this process, alive, is not gone; nor is an owner not known', () => {
  expect(host).toBe(os.hostname());
  expect(Number(pid)).toBe(process.pid);
  expect(ownerGone(PROCESS_OWNER)).toBe(false);
  for (const owner of [null, undefined, '', 'garbage', `${host}|x|${start}|${table}`]) expect(ownerGone(owner)).toBe(false);
});

test('a process of this host and pid table that exited is gone; so is this pid under another start (a container restarted)', () => {
  expect(table).not.toBe(''); // Linux: /proc says which boot and pid namespace this is
  expect(ownerGone(`${host}|${deadPid()}|abcd1234|${table}`)).toBe(true);
  expect(ownerGone(`${host}|${process.pid}|other123|${table}`)).toBe(true);
});

test('another pid table (another container sharing the host name), or another host: never judged gone, even for a pid that does not exist here', () => {
  const dead = deadPid();
  expect(ownerGone(`${host}|${dead}|abcd1234|000000000000`)).toBe(false);
  expect(ownerGone(`${host}|${dead}|abcd1234|`)).toBe(false);
  expect(ownerGone(`another-host|${dead}|abcd1234|${table}`)).toBe(false);
  expect(ownerGone(`${host}|${process.pid}|other123|000000000000`)).toBe(false);
});
