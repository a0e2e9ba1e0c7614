// The catalogue of named queries: what each takes and returns, whatever the database. A domain
// declares its own in a file here; every dialect must give each name a text (storage/*/sql).
import type { AccountQueries } from './accounts';
import type { AttachmentQueries } from './attachments';
import type { AllowanceQueries } from './allowances';
import type { AdminQueries } from './admin';
import type { AdminKeyQueries } from './admin-keys';
import type { ChatQueries } from './chat';
import type { CodeQueries } from './codes';
import type { GroupQueries } from './groups';
import type { GroupUsageQueries } from './group-usage';
import type { GroupPromptQueries } from './group-prompts';
import type { InviteQueries } from './invites';
import type { KeyQueries } from './keys';
import type { LedgerQueries } from './ledger';
import type { LimitQueries } from './limits';
import type { OidcQueries } from './oidc';
import type { OrgLimitQueries } from './org-limits';
import type { PaymentQueries } from './payments';
import type { PresetQueries } from './presets';
import type { ShareQueries } from './shares';
import type { ReportQueries } from './reports';
import type { ResponseQueries } from './responses';
import type { RosterQueries } from './roster';
import type { SpendQueries } from './spend';
import type { SystemQueries } from './system';

export type { Changes, Q } from './shape';

export interface Queries
  extends AccountQueries, AttachmentQueries, AllowanceQueries, AdminQueries, AdminKeyQueries, ChatQueries, CodeQueries, GroupQueries, GroupUsageQueries, GroupPromptQueries, InviteQueries, KeyQueries, LedgerQueries, LimitQueries, OidcQueries, OrgLimitQueries, PaymentQueries, PresetQueries, ShareQueries, ReportQueries, ResponseQueries, RosterQueries, SpendQueries, SystemQueries {}

export type QueryName = keyof Queries;
