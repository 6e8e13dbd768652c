import type { Database } from "./database";
import { storableText } from "../kernel/text";

export interface AuditRow {
  id: bigint;
  at: Date;
  actor: string;
  action: string;
  repository: string | null;
  reference: string | null;
  success: boolean;
  outcome: string;
  project: string | null;
  clientIp: string | null;
  detail: unknown;
}

export type NewAuditRow = Omit<AuditRow, "id" | "detail"> & { detail: Record<string, unknown> | null };

export interface AuditFilter {
  actor?: string;
  /** One action, or any of several. */
  action?: string | string[];
  repository?: string;
  project?: string;
  outcome?: string;
  since?: Date;
  until?: Date;
  /** Events with a smaller id. */
  before?: bigint;
  limit: number;
}

/** The audit_event table. */
export interface AuditStore {
  insert(events: NewAuditRow[]): Promise<void>;
  /** Newest first. */
  find(filter: AuditFilter): Promise<AuditRow[]>;
}

/**
 * A column value storable and short enough for a btree index row (~2.7 KB): a failed login with an 8 KB
 * random username must still be recorded. 512 characters are at most 2 KB of UTF-8; slicing first lets
 * storableText mend a surrogate pair the cut split.
 */
function indexable(value: string): string {
  return storableText(value.length > 512 ? value.slice(0, 512) : value);
}

/**
 * A JSON.stringify replacer: every string of an event's detail, keys included, at any depth, made storable,
 * because jsonb refuses \u0000 and a lone surrogate, and one such event would fail its whole batch.
 */
function storableJson(_key: string, value: unknown): unknown {
  if (typeof value === "string") return storableText(value);
  if (value && typeof value === "object" && !Array.isArray(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [storableText(k), v]));
  }
  return value;
}

export class SqlAuditStore implements AuditStore {
  constructor(private readonly db: Pick<Database, "prisma" | "query">) {}

  async insert(batch: NewAuditRow[]): Promise<void> {
    // One statement per batch, in plain SQL: every pull enqueues an event, so this runs all the time.
    await this.db.query(
      `INSERT INTO audit_event (at, actor, action, repository, reference, success, client_ip, detail, project, outcome)
       SELECT e.at, e.actor, e.action, e.repository, e.reference, e.success, e.client_ip, e.detail::jsonb, e.project, e.outcome
         FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[], $7::text[], $8::text[], $9::text[], $10::text[])
              AS e(at, actor, action, repository, reference, success, client_ip, detail, project, outcome)`,
      [
        batch.map((e) => e.at),
        batch.map((e) => indexable(e.actor)),
        batch.map((e) => indexable(e.action)),
        batch.map((e) => e.repository && indexable(e.repository)),
        batch.map((e) => e.reference && indexable(e.reference)),
        batch.map((e) => e.success),
        batch.map((e) => e.clientIp && indexable(e.clientIp)),
        batch.map((e) => (e.detail ? JSON.stringify(e.detail, storableJson) : null)),
        batch.map((e) => e.project && indexable(e.project)),
        batch.map((e) => e.outcome),
      ],
    );
  }

  find(q: AuditFilter): Promise<AuditRow[]> {
    return this.db.prisma.auditEvent.findMany({
      where: {
        actor: q.actor,
        action: Array.isArray(q.action) ? { in: q.action } : q.action,
        repository: q.repository,
        project: q.project,
        outcome: q.outcome,
        at: { gte: q.since, lte: q.until },
        id: q.before !== undefined ? { lt: q.before } : undefined,
      },
      orderBy: { id: "desc" },
      take: q.limit,
    });
  }
}
