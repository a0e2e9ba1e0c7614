// Every PostgreSQL text, by query name.
import type { Texts } from '../../op';
import { accountsSql } from './accounts';
import { allowancesSql } from '../../sql/allowances';
import { adminSql } from './admin';
import { adminKeysTexts } from '../../sql/admin-keys';
import { chatSql } from './chat';
import { codesSql } from './codes';
import { groupsSql } from './groups';
import { groupUsageTexts } from '../../sql/group-usage';
import { groupPromptsSql } from '../../sql/group-prompts';
import { attachmentsSql } from '../../sql/attachments';
import { invitesSql } from '../../sql/invites';
import { presetsSql } from '../../sql/presets';
import { sharesTexts } from '../../sql/shares';
import { keysSql } from './keys';
import { ledgerSql } from './ledger';
import { limitsSql } from './limits';
import { oidcSql } from '../../sql/oidc';
import { orgLimitsSql } from '../../sql/org-limits';
import { paymentsSql } from './payments';
import { reportsSql } from './reports';
import { responsesSql } from '../../sql/responses';
import { rosterTexts } from '../../sql/roster';
import { spendSql } from './spend';
import { systemSql } from './system';

export const POSTGRES: Texts = { ...accountsSql, ...attachmentsSql, ...allowancesSql, ...adminSql, ...adminKeysTexts('postgres'), ...chatSql, ...codesSql, ...groupsSql, ...groupUsageTexts('postgres'), ...groupPromptsSql, ...invitesSql, ...presetsSql, ...sharesTexts('postgres'), ...keysSql, ...ledgerSql, ...limitsSql, ...oidcSql, ...orgLimitsSql, ...paymentsSql, ...reportsSql, ...responsesSql, ...rosterTexts('postgres'), ...spendSql, ...systemSql };
