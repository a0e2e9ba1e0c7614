// PostgreSQL's modules (pg, connect-pg-simple), loaded the first time a store, a session store or
// a signal is on PostgreSQL: on SQLite every CLI command starts about 40 ms sooner without them (a
// roster script may run one per student).
/* eslint-disable @typescript-eslint/no-require-imports -- loaded when first needed, synchronously */
export const postgresStore = () => require('./postgres/store') as typeof import('./postgres/store');
export const postgresSessions = () => require('./postgres/session-store') as typeof import('./postgres/session-store');
export const postgresSignals = () => require('./postgres/signal-channel') as typeof import('./postgres/signal-channel');
/* eslint-enable @typescript-eslint/no-require-imports */
