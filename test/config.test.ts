import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig, SETTINGS } from '../src/config';

describe('loadConfig', () => {
  test('defaults: 127.0.0.1:7860, ./data, 24 h idle and 7 day sessions', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ host: '127.0.0.1', port: 7860, sessionIdleMs: 24 * 3600_000, sessionAbsoluteMs: 7 * 24 * 3600_000 });
    expect(c.dataDir).toBe(path.resolve('./data'));
    expect(Object.isFrozen(c)).toBe(true);
  });

  test('reads every setting', () => {
    const c = loadConfig({
      HOST: '0.0.0.0', PORT: '8080', DATA_DIR: '/tmp/x', SESSION_SECRET: 's'.repeat(32), SESSION_IDLE_MINUTES: '30',
      DATABASE_URL: 'postgres://tc:pw@db.example:5432/tokenchat', DATABASE_POOL_SIZE: '20', DATABASE_SCHEMA: 'tokenchat', METRICS: 'true',
      DATABASE_CONNECT_TIMEOUT_MS: '3000', DATABASE_STATEMENT_TIMEOUT_MS: '0', DATABASE_IDLE_TRANSACTION_TIMEOUT_MS: '20000',
      SESSION_ABSOLUTE_HOURS: '12', TRUST_PROXY: '1', BODY_LIMIT: '512kb', ALLOW_REGISTRATION: 'false',
      LOGIN_RATE_LIMIT_PER_IP: '9', LOGIN_RATE_LIMIT_PER_USER: '4', LOGIN_RATE_WINDOW_MINUTES: '5',
      LOGIN_DELAY_MS: '250', LOGIN_DELAY_MAX_MS: '4000',
      HASH_CONCURRENCY: '3', HASH_QUEUE_LIMIT: '7', LOG_LEVEL: 'warn', LOG_BUFFER_LIMIT: '1mb', LOG_FORMAT: 'pretty', SHUTDOWN_TIMEOUT_MS: '2000', WEB_CONCURRENCY: '2', NODE_ENV: 'production',
      MODELS_FILE: '/etc/models.json', SIGNUP_BONUS: '0', HOLD_RECOVERY_MINUTES: '3', REDEEM_RATE_LIMIT_PER_USER: '6',
      OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: 'http://127.0.0.1:8000/v1', UPSTREAM_TIMEOUT_MS: '5000', DEMO_DELAY_MS: '0',
      TURNS_PER_USER: '2', MIN_COMPLETION_TOKENS: '16', API_IN_FLIGHT_PER_USER: '20', API_IN_FLIGHT_PER_KEY: '5', RESPONSES_KEEP_DAYS: '7', UPSTREAM_CONCURRENCY: '8', QUEUE_MAX_WAITING: '50', ESTIMATE_RATE_LIMIT_PER_USER: '12', ESTIMATE_CHARS_PER_MINUTE: '200000',
      PROVIDER_FAILURES: '5', PROVIDER_COOLDOWN_SECONDS: '90', DEEPSEEK_API_KEY: ' sk-deepseek ', PASSWORD_SIGNIN: 'off',
      ATTACHMENT_MAX_BYTES: '5mb', ATTACHMENTS_PER_MESSAGE: '2', DOCUMENT_MAX_PAGES: '40', DOCUMENT_MAX_CHARS: '90000',
    });
    // A provider's key is read by the name the models file gives, never kept among the settings.
    expect(c.keyOf('DEEPSEEK_API_KEY')).toBe('sk-deepseek');
    expect(c.keyOf('MOONSHOT_API_KEY')).toBeUndefined();
    expect(JSON.stringify(c)).not.toContain('sk-deepseek');
    expect({ ...c, keyOf: undefined }).toEqual({
      keyOf: undefined, breaker: { failures: 5, cooldownMs: 90_000 },
      env: 'production', host: '0.0.0.0', port: 8080, dataDir: '/tmp/x', sessionSecret: 's'.repeat(32),
      databaseUrl: 'postgres://tc:pw@db.example:5432/tokenchat', databasePoolSize: 20, databaseSchema: 'tokenchat', metrics: true,
      databaseTimeouts: { connectMs: 3000, statementMs: 0, idleTransactionMs: 20_000 },
      sessionIdleMs: 30 * 60_000, sessionAbsoluteMs: 12 * 3600_000, trustProxy: 1, bodyLimitBytes: 512 * 1024,
      registrationMode: 'closed', publicUrl: undefined, loginRateLimitPerIp: 9, loginRateLimitPerUser: 4, loginRateWindowMs: 5 * 60_000,
      loginDelayMs: 250, loginDelayMaxMs: 4000,
      hashConcurrency: 3, hashQueueLimit: 7, logLevel: 'warn', logBufferLimit: 1024 * 1024, logFormat: 'pretty', shutdownTimeoutMs: 2000, webConcurrency: 2,
      modelsFile: '/etc/models.json', signupBonus: 0, holdRecoveryMs: 3 * 60_000, redeemRateLimitPerUser: 6,
      openaiApiKey: 'sk-test', openaiBaseUrl: 'http://127.0.0.1:8000/v1', upstreamTimeoutMs: 5000, demoDelayMs: 0,
      oidcProviders: [], passwordSignIn: false, alipay: undefined, wechatPay: undefined, packagesFile: undefined, checkoutMinutes: 30,
      turnsPerUser: 2, minCompletion: 16, payments: undefined, apiPerUser: 20, apiPerKey: 5, responsesKeepDays: 7, upstreamConcurrency: 8, queueMaxWaiting: 50, estimateRateLimitPerUser: 12, estimateCharsPerMinute: 200_000,
      attachments: { maxBytes: 5 * 1024 * 1024, perMessage: 2, maxPages: 40, maxChars: 90_000 },
    });
  });

  test('OIDC_PROVIDERS: read with its redirect URL from PUBLIC_URL, the client secret never in a dump of the settings', () => {
    const school = { id: 'school', issuer: 'https://login.example.edu/realms/school', clientId: 'tokenchat', clientSecret: 'oidc-secret-value', label: 'School account', emailDomains: ['School.EDU'], groupsClaim: 'groups' };
    const c = loadConfig({ OIDC_PROVIDERS: JSON.stringify([school]), PUBLIC_URL: 'https://chat.example.edu/' });
    const { clientSecret: _secret, ...shown } = school;
    expect(c.oidcProviders).toEqual([{ ...shown, emailDomains: ['school.edu'], scopes: 'openid email profile', redirectUri: 'https://chat.example.edu/auth/oidc/school/callback' }]);
    expect(c.oidcProviders[0]!.clientSecret).toBe('oidc-secret-value');
    expect(JSON.stringify(c)).not.toContain('oidc-secret-value');
    const one = JSON.stringify([school]);
    expect(() => loadConfig({ OIDC_PROVIDERS: one })).toThrow('OIDC_PROVIDERS needs PUBLIC_URL');
    expect(() => loadConfig({ OIDC_PROVIDERS: '{nope', PUBLIC_URL: 'https://a.b' })).toThrow('OIDC_PROVIDERS must be a JSON array');
    expect(() => loadConfig({ OIDC_PROVIDERS: JSON.stringify([{ ...school, issuer: 'http://idp.example.edu' }]), PUBLIC_URL: 'https://a.b' })).toThrow('OIDC_PROVIDERS[0.issuer] must be an https URL');
    expect(() => loadConfig({ OIDC_PROVIDERS: JSON.stringify([{ ...school, scopes: 'email' }]), PUBLIC_URL: 'https://a.b' })).toThrow('OIDC_PROVIDERS[0.scopes] must include openid');
    expect(() => loadConfig({ OIDC_PROVIDERS: JSON.stringify([school, school]), PUBLIC_URL: 'https://a.b' })).toThrow('the id school twice');
    expect(() => loadConfig({ PASSWORD_SIGNIN: 'maybe' })).toThrow('PASSWORD_SIGNIN must be on or off');
  });

  test('DATABASE_URL without SESSION_SECRET stops start-up naming both', () => {
    expect(() => loadConfig({ DATABASE_URL: 'postgres://127.0.0.1/db' })).toThrow('SESSION_SECRET must be set (the same on every host) when DATABASE_URL is set');
    expect(() => loadConfig({ DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL must be a postgres:\/\/ URL/);
  });

  test('TRUST_PROXY takes true, false, a hop count or a list of addresses', () => {
    expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: 'false' }).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8' }).trustProxy).toBe('loopback, 10.0.0.0/8');
  });

  test.each([
    ['PORT', 'abc', 'PORT must be a whole number'],
    ['PORT', '70000', 'PORT must be at most 65535'],
    ['PORT', '-1', 'PORT must be a whole number'],
    ['SESSION_SECRET', 'short', 'SESSION_SECRET must be at least 32 characters'],
    ['SESSION_IDLE_MINUTES', '0', 'SESSION_IDLE_MINUTES must be at least 1'],
    ['SESSION_ABSOLUTE_HOURS', '1.5', 'SESSION_ABSOLUTE_HOURS must be a whole number'],
    ['BODY_LIMIT', 'huge', 'BODY_LIMIT must be a size such as 512kb or 2mb'],
    ['BODY_LIMIT', '100', 'BODY_LIMIT must be at least 1kb'],
    ['BODY_LIMIT', '100mb', 'BODY_LIMIT must be at most 64mb'],
    ['ALLOW_REGISTRATION', 'maybe', 'ALLOW_REGISTRATION must be true or false'],
    ['REGISTRATION_MODE', 'sometimes', 'REGISTRATION_MODE must be open, invite, approval or closed'],
    ['LOGIN_RATE_LIMIT_PER_IP', '0', 'LOGIN_RATE_LIMIT_PER_IP must be at least 1'],
    ['LOGIN_RATE_LIMIT_PER_USER', 'x', 'LOGIN_RATE_LIMIT_PER_USER must be a whole number'],
    ['LOGIN_RATE_WINDOW_MINUTES', '99999', 'LOGIN_RATE_WINDOW_MINUTES must be at most 1440'],
    ['HASH_CONCURRENCY', '0', 'HASH_CONCURRENCY must be at least 1'],
    ['HASH_QUEUE_LIMIT', '-5', 'HASH_QUEUE_LIMIT must be a whole number'],
    ['LOG_LEVEL', 'loud', 'LOG_LEVEL'],
    ['LOG_FORMAT', 'colour', 'LOG_FORMAT'],
    ['NODE_ENV', 'staging', 'NODE_ENV'],
    ['SHUTDOWN_TIMEOUT_MS', 'soon', 'SHUTDOWN_TIMEOUT_MS must be a whole number'],
    ['SIGNUP_BONUS', '-10', 'SIGNUP_BONUS must be a whole number'],
    ['SIGNUP_BONUS', '2000000000', 'SIGNUP_BONUS must be at most 1000000000'],
    ['HOLD_RECOVERY_MINUTES', '0', 'HOLD_RECOVERY_MINUTES must be at least 1'],
    ['OPENAI_BASE_URL', 'api.openai.com', 'OPENAI_BASE_URL must be an http(s) URL'],
    ['OPENAI_BASE_URL', 'ftp://host/v1', 'OPENAI_BASE_URL must be an http(s) URL'],
    ['UPSTREAM_TIMEOUT_MS', '10', 'UPSTREAM_TIMEOUT_MS must be at least 1000'],
    ['DEMO_DELAY_MS', 'fast', 'DEMO_DELAY_MS must be a whole number'],
  ])('%s=%s is refused with a message naming the variable', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  test('several bad values are all named at once', () => {
    expect(() => loadConfig({ PORT: 'x', HOST: '', LOG_LEVEL: 'x' })).toThrow(/PORT .*; LOG_LEVEL/);
  });
});

test('.env.example lists every setting, each with a comment', () => {
  const text = fs.readFileSync(path.join(__dirname, '..', '.env.example'), 'utf8');
  const listed = [...text.matchAll(/^#? ?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]);
  expect([...listed].sort()).toEqual([...SETTINGS].sort());
  // each setting sits in a paragraph that opens with a comment explaining it
  for (const block of text.split(/\n\s*\n/).filter((b) => /^#? ?[A-Z_]+=/m.test(b))) {
    expect(block.trimStart().startsWith('#')).toBe(true);
  }
});

test('docs/running.md lists every setting once, in one table, and no other page has a settings row', () => {
  const root = path.join(__dirname, '..');
  const settingRows = (text: string) => [...text.matchAll(/^\| `([A-Z][A-Z0-9_]+)` \|/gm)].map((m) => m[1]);
  const running = fs.readFileSync(path.join(root, 'docs', 'running.md'), 'utf8');
  // the table is the run of '|' lines holding the first setting's row; every setting row is in it
  const lines = running.split('\n');
  let start = lines.findIndex((l) => /^\| `[A-Z][A-Z0-9_]+` \|/.test(l));
  while (start > 0 && lines[start - 1].startsWith('|')) start -= 1;
  let end = start;
  while (end < lines.length && lines[end].startsWith('|')) end += 1;
  const table = settingRows(lines.slice(start, end).join('\n'));
  expect(settingRows(running)).toEqual(table);
  expect([...table].sort()).toEqual([...SETTINGS].sort());
  const others = ['README.md', ...fs.readdirSync(path.join(root, 'docs')).filter((f) => f.endsWith('.md') && f !== 'running.md').map((f) => path.join('docs', f))];
  for (const page of others) expect([page, settingRows(fs.readFileSync(path.join(root, page), 'utf8'))]).toEqual([page, []]);
});
