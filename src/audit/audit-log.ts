import type { Logger } from "pino";
import type { AuditStore, NewAuditRow } from "../metadata/audit-store";
import type { BerthEvent, EventAction } from "../events/event-bus";

/** One row of the audit log. */
export interface AuditEventInput {
  actor: string;
  action: EventAction;
  repository?: string | null;
  reference?: string | null;
  success?: boolean;
  clientIp?: string | null;
  detail?: Record<string, unknown> | null;
}

export interface AuditEvent extends Required<Omit<AuditEventInput, "detail" | "action">> {
  id: string;
  /** An EventAction; rows written before the vocabulary existed may say "admin". */
  action: string;
  at: Date;
  detail: Record<string, unknown> | null;
}

export interface AuditQuery {
  actor?: string;
  /** One action, or any of several (a category such as "admin", see actionsInCategory). */
  action?: string | string[];
  repository?: string;
  since?: Date;
  until?: Date;
  /** Events older than this id (the previous page's last id). */
  before?: string;
  limit: number;
}

/**
 * Who did what, from where: every event on the event bus (src/events/vocabulary.ts), of which it is a
 * subscriber — nothing writes to it directly. Requests only enqueue: events are written in batches off
 * the request path, so a pull costs no extra database round trip. close() flushes what is pending.
 */
export class AuditLog {
  private pending: Array<AuditEventInput & { at: Date }> = [];
  private flushing: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly store: AuditStore,
    private readonly logger: Logger,
    private readonly flushIntervalMs = 1000,
    /** Called once per event that could not be written (counted in /metrics). */
    private readonly writeFailed: () => void = () => {},
  ) {
    this.timer = setInterval(() => void this.flush(), this.flushIntervalMs);
    this.timer.unref();
  }

  /** The event bus listener: only enqueues. */
  handle(event: BerthEvent): void {
    const detail = { ...event.detail } as Record<string, unknown>;
    // The event's own time, not the batch's: last-pulled times are derived from it.
    this.pending.push({
      at: event.timestamp,
      actor: event.actor.name,
      action: event.action,
      repository: event.repository,
      reference: event.reference,
      success: event.success,
      clientIp: event.actor.address,
      detail: Object.keys(detail).length ? detail : null,
    });
    if (this.pending.length >= 200) void this.flush();
  }

  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      const batch = this.pending;
      if (!batch.length) return;
      this.pending = [];
      const rows = batch.map(toRow);
      try {
        await this.store.insert(rows);
      } catch (err) {
        // One event the database refuses must not take the others with it: write them one by one.
        this.logger.warn({ err, events: rows.length }, "audit batch refused; writing its events one by one");
        for (const row of rows) await this.insertOne(row);
      }
    });
    return this.flushing;
  }

  private async insertOne(row: NewAuditRow): Promise<void> {
    try {
      await this.store.insert([row]);
    } catch (err) {
      this.writeFailed();
      this.logger.error({ err, action: row.action, repository: row.repository?.slice(0, 200) }, "could not write an audit event");
    }
  }

  async query(q: AuditQuery): Promise<AuditEvent[]> {
    await this.flush();
    const rows = await this.store.find({ ...q, before: q.before ? BigInt(q.before) : undefined });
    return rows.map((r) => ({
      id: r.id.toString(),
      at: r.at,
      actor: r.actor,
      action: r.action,
      repository: r.repository,
      reference: r.reference,
      success: r.success,
      clientIp: r.clientIp,
      detail: r.detail as Record<string, unknown> | null,
    }));
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}

function toRow(e: AuditEventInput & { at: Date }): NewAuditRow {
  return {
    at: e.at,
    actor: e.actor,
    action: e.action,
    repository: e.repository ?? null,
    reference: e.reference ?? null,
    success: e.success ?? true,
    clientIp: e.clientIp ?? null,
    detail: e.detail ?? null,
  };
}
