// Groups as domain operations (issue 24): each change is checked, written and audited in one
// transaction; the built-in Everyone is never renamed, deleted or given members.
import { NotAnAdmin } from '../src/admin/actions';
import {
  addMembers, createGroup, deleteGroup, findGroup, GroupError, groupsOf, listGroups, membersOf, removeMembers, renameGroup, setGroupRules,
} from '../src/groups/groups';
import { openTempDatabase } from './helpers';

let temp: Awaited<ReturnType<typeof openTempDatabase>>;
beforeEach(async () => {
  temp = await openTempDatabase();
});
afterEach(() => temp.close());

async function user(name: string, role: 'user' | 'admin' = 'user'): Promise<number> {
  return Number(
    await temp.sql.value(`INSERT INTO users (username, username_key, password_hash, role) VALUES (?, ?, '$argon2id$x', ?) RETURNING id`, name, name, role),
  );
}

async function refusal(work: Promise<unknown>): Promise<string> {
  const err = await work.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(GroupError);
  return (err as GroupError).code;
}

const audit = async () =>
  (await temp.sql.all(`SELECT action, target_user_id AS target, detail FROM admin_audit ORDER BY id`)).map((r) => ({
    action: r.action, target: r.target === null ? null : Number(r.target), detail: JSON.parse(r.detail),
  }));

test('the migration makes the built-in Everyone: every model, the listed price, no members', async () => {
  const groups = await temp.database.read(listGroups);
  expect(groups).toEqual([expect.objectContaining({ name: 'Everyone', builtin: true, models: null, pricePercent: 100, members: 0 })]);
});

test('create, rename and delete a group, each audited; a name is trimmed and must be free', async () => {
  const { database } = temp;
  const admin = await user('boss', 'admin');
  const id = await database.write(createGroup, admin, '  Class 3 ');
  expect(await database.read(findGroup, id)).toEqual(expect.objectContaining({ name: 'Class 3', builtin: false, models: null, pricePercent: 100 }));
  expect(await refusal(database.write(createGroup, admin, 'Class 3'))).toBe('duplicate_name');
  expect(await refusal(database.write(createGroup, admin, 'Everyone'))).toBe('duplicate_name');
  expect(await refusal(database.write(createGroup, admin, '   '))).toBe('bad_name');
  expect(await refusal(database.write(createGroup, admin, 'x'.repeat(61)))).toBe('bad_name');
  const other = await database.write(createGroup, admin, 'Staff');
  expect(await refusal(database.write(renameGroup, admin, other, 'Class 3'))).toBe('duplicate_name');
  await database.write(renameGroup, admin, id, 'Class 3'); // its own name is free to it
  await database.write(renameGroup, admin, id, 'Class 3B');
  expect((await database.read(listGroups)).map((g) => g.name)).toEqual(['Everyone', 'Class 3B', 'Staff']);
  await database.write(deleteGroup, admin, other);
  expect(await database.read(findGroup, other)).toBeUndefined();
  expect(await refusal(database.write(renameGroup, admin, other, 'Gone'))).toBe('no_group');
  expect(await audit()).toEqual([
    { action: 'group_create', target: null, detail: { group: 'Class 3' } },
    { action: 'group_create', target: null, detail: { group: 'Staff' } },
    { action: 'group_rename', target: null, detail: { group: 'Class 3', was: 'Class 3' } },
    { action: 'group_rename', target: null, detail: { group: 'Class 3B', was: 'Class 3' } },
    { action: 'group_delete', target: null, detail: { group: 'Staff', members: 0 } },
  ]);
});

test('the built-in Everyone cannot be renamed, deleted or given members, but its rules can be set', async () => {
  const { database, sql } = temp;
  const admin = await user('boss', 'admin');
  const student = await user('student');
  const everyone = (await database.read(listGroups))[0].id;
  expect(await refusal(database.write(renameGroup, admin, everyone, 'All'))).toBe('builtin');
  expect(await refusal(database.write(deleteGroup, admin, everyone))).toBe('builtin');
  expect(await refusal(database.write(addMembers, admin, everyone, [student]))).toBe('builtin');
  await database.write(setGroupRules, admin, everyone, { models: ['gpt-4o-mini'], pricePercent: 100 });
  expect(await database.read(findGroup, everyone)).toEqual(expect.objectContaining({ name: 'Everyone', models: ['gpt-4o-mini'] }));
  expect(await sql.value('SELECT count(*) FROM group_members')).toBe(0);
  expect((await audit()).map((a) => a.action)).toEqual(['group_rules']);
});

test('rules: the percent is 1 to 1000, and a model must be one the server offers', async () => {
  const { database } = temp;
  const admin = await user('boss', 'admin');
  const id = await database.write(createGroup, admin, 'Staff');
  const known = ['gpt-4o', 'gpt-4o-mini'];
  expect(await refusal(database.write(setGroupRules, admin, id, { models: null, pricePercent: 0 }, known))).toBe('percent_range');
  expect(await refusal(database.write(setGroupRules, admin, id, { models: null, pricePercent: 1001 }, known))).toBe('percent_range');
  expect(await refusal(database.write(setGroupRules, admin, id, { models: null, pricePercent: 12.5 }, known))).toBe('percent_range');
  expect(await refusal(database.write(setGroupRules, admin, id, { models: ['gpt-5'], pricePercent: 50 }, known))).toBe('unknown_model');
  await database.write(setGroupRules, admin, id, { models: ['gpt-4o-mini', 'gpt-4o-mini'], pricePercent: 50 }, known);
  expect(await database.read(findGroup, id)).toEqual(expect.objectContaining({ models: ['gpt-4o-mini'], pricePercent: 50 }));
  expect((await audit()).slice(-1)).toEqual([{ action: 'group_rules', target: null, detail: { group: 'Staff', models: ['gpt-4o-mini'], percent: 50 } }]);
});

test('add and remove members: those already in are left alone, unknown users refused, each change audited', async () => {
  const { database } = temp;
  const admin = await user('boss', 'admin');
  const [ann, bob, cy] = [await user('ann'), await user('bob'), await user('cy')];
  const id = await database.write(createGroup, admin, 'Class 3');
  const staff = await database.write(createGroup, admin, 'Staff');
  expect(await database.write(addMembers, admin, id, [ann, bob, ann])).toEqual(expect.arrayContaining([ann, bob]));
  expect(await database.write(addMembers, admin, id, [bob, cy])).toEqual([cy]);
  await database.write(addMembers, admin, staff, [ann]);
  expect(await refusal(database.write(addMembers, admin, id, [cy, 9_999]))).toBe('no_user');
  expect(await refusal(database.write(addMembers, admin, 9_999, [cy]))).toBe('no_group');
  expect((await database.read(membersOf, id)).map((m) => m.username)).toEqual(['ann', 'bob', 'cy']);
  expect((await database.read(findGroup, id))?.members).toBe(3);
  expect((await database.read(groupsOf, ann)).map((g) => g.name)).toEqual(['Class 3', 'Staff']);
  expect(await database.write(removeMembers, admin, id, [ann, ann])).toEqual([ann]);
  expect(await database.write(removeMembers, admin, id, [ann])).toEqual([]);
  expect((await database.read(membersOf, id)).map((m) => m.username)).toEqual(['bob', 'cy']);
  expect((await database.read(groupsOf, ann)).map((g) => g.name)).toEqual(['Staff']);
  const rows = (await audit()).filter((a) => a.action === 'group_add' || a.action === 'group_remove');
  expect(rows).toEqual(expect.arrayContaining([
    { action: 'group_add', target: ann, detail: { group: 'Class 3' } },
    { action: 'group_add', target: bob, detail: { group: 'Class 3' } },
    { action: 'group_add', target: cy, detail: { group: 'Class 3' } },
    { action: 'group_add', target: ann, detail: { group: 'Staff' } },
    { action: 'group_remove', target: ann, detail: { group: 'Class 3' } },
  ]));
  expect(rows).toHaveLength(5);
  // Deleting a group takes its memberships with it.
  await database.write(deleteGroup, admin, staff);
  expect(await database.read(groupsOf, ann)).toEqual([]);
});

test('a user who is not an enabled admin changes nothing; the command line (null) may', async () => {
  const { database, sql } = temp;
  const member = await user('member');
  await expect(database.write(createGroup, member, 'Mine')).rejects.toBeInstanceOf(NotAnAdmin);
  const id = await database.write(createGroup, null, 'From the CLI');
  expect(await database.read(findGroup, id)).toBeDefined();
  expect(await sql.value(`SELECT count(*) FROM admin_audit WHERE actor_id IS NULL AND action = 'group_create'`)).toBe(1);
});
