// The setup most HTTP suites share: one app server for the file, on a local fake model API, the
// fake's script cleared after each test and `ledger verify` clean after each. A suite writes
//   let fake: FakeUpstream; let srv: TestServer;
//   serveOnFake({}, (f, s) => ((fake = f), (srv = s)));
// and adds its own afterEach for anything else it must put back.
import { verifyLedger } from '../src/ledger/verify';
import { startFakeUpstream, type FakeUpstream } from './fake-upstream';
import { startTestServer, type TestServer } from './helpers';

export function serveOnFake(env: Record<string, string>, set: (fake: FakeUpstream, srv: TestServer) => void): void {
  let fake: FakeUpstream;
  let srv: TestServer;
  beforeAll(async () => {
    fake = await startFakeUpstream();
    srv = await startTestServer({ OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: fake.url, LOGIN_RATE_LIMIT_PER_IP: '10000', ...env });
    set(fake, srv);
  });
  afterAll(async () => {
    await srv.close();
    await fake.close();
  });
  afterEach(async () => {
    fake.clear();
    expect(await srv.database.read(verifyLedger, 3_600_000)).toEqual([]);
  });
}
