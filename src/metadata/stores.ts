// Every store of the metadata database, made from one open Database. The composition root (src/deps.ts,
// the CLI) calls this; services receive the store interfaces, never the Database.
import type { Database } from "./database";
import { PrismaAccountStore, type AccountStore } from "./account-store";
import { PrismaSigningKeyStore, type SigningKeyStore } from "./signing-key-store";
import { PrismaWebSessionStore, type WebSessionStore } from "./session-store";
import { PrismaProjectRuleStore, type ProjectRuleStore } from "./project-rule-store";
import { SqlAuditStore, type AuditStore } from "./audit-store";
import { SqlMirrorStore, type MirrorStore } from "./mirror-store";
import { SqlWebQueries, type WebQueries } from "./web-queries";
import { SqlOpsQueries, type OpsQueries } from "./ops-queries";
import { gcDatabase } from "./gc-sql";
import { SqlGcStore, type GcStore } from "./gc-store";
import { SqlSettingStore, type SettingStore } from "./settings-store";
import { PrismaWebhookStore, type WebhookStore } from "./webhook-store";

export interface Stores {
  accounts: AccountStore;
  signingKeys: SigningKeyStore;
  webSessions: WebSessionStore;
  projectRules: ProjectRuleStore;
  audit: AuditStore;
  mirror: MirrorStore;
  web: WebQueries;
  ops: OpsQueries;
  gc: GcStore;
  settings: SettingStore;
  webhooks: WebhookStore;
}

export function createStores(database: Database, options: { defaultProjectQuotaBytes?: number | null } = {}): Stores {
  return {
    accounts: new PrismaAccountStore(database.prisma, { defaultQuotaBytes: options.defaultProjectQuotaBytes ?? null }),
    signingKeys: new PrismaSigningKeyStore(database.prisma),
    webSessions: new PrismaWebSessionStore(database.prisma),
    projectRules: new PrismaProjectRuleStore(database.prisma),
    audit: new SqlAuditStore(database),
    mirror: new SqlMirrorStore(database),
    web: new SqlWebQueries(database),
    ops: new SqlOpsQueries(database),
    gc: new SqlGcStore(gcDatabase(database)),
    settings: new SqlSettingStore(database),
    webhooks: new PrismaWebhookStore(database.prisma),
  };
}
