import { listUsers } from '../src/accounts/users';
import { startTestServer, type TestServer } from './helpers';

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer({ HASH_CONCURRENCY: '8', HASH_QUEUE_LIMIT: '100' });
});
afterAll(() => srv.close());

test('20 simultaneous first registrations make exactly one admin', async () => {
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) => srv.agent().post('/register').send({ username: `racer${i}`, password: 'racing password' })),
  );
  expect(results.map((r) => r.status)).toEqual(Array(20).fill(201));
  const users = await srv.database.read(listUsers);
  expect(users).toHaveLength(20);
  expect(users.filter((u) => u.role === 'admin')).toHaveLength(1);
  const admins = results.filter((r) => r.body.user.role === 'admin');
  expect(admins).toHaveLength(1);
});

test('later registrations are plain users', async () => {
  const res = await srv.agent().post('/register').send({ username: 'latecomer', password: 'racing password' });
  expect(res.body.user.role).toBe('user');
});
