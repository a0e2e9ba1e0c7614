// Runs before each test file of `npm run test:pg`: the suite's database is PostgreSQL.
if (!process.env.TEST_DATABASE_URL) {
  throw new Error('npm run test:pg needs TEST_DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/test');
}
process.env.TEST_DIALECT = 'postgres';
