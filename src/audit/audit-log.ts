import type { Logger } from "pino";
import type { PrismaClient } from "../generated/prisma/client";
import type { Database } from "../metadata/database";
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

  private readonly prisma: PrismaClient;

  constructor(
    private readonly db: Pick<Database, "prisma" | "query">,
    private readonly logger: Logger,
    private readonly flushIntervalMs = 1000,
  ) {
    this.prisma = db.prisma;
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
      try {
        // One statement per batch, in plain SQL: every pull enqueues an event, so this runs all the time.
        await this.db.query(
          `INSERT INTO audit_event (at, actor, action, repository, reference, success, client_ip, detail)
           SELECT e.at, e.actor, e.action, e.repository, e.reference, e.success, e.client_ip, e.detail::jsonb
             FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[], $7::text[], $8::text[])
                  AS e(at, actor, action, repository, reference, success, client_ip, detail)`,
          [
            batch.map((e) => e.at),
            batch.map((e) => e.actor),
            batch.map((e) => e.action),
            batch.map((e) => e.repository ?? null),
            batch.map((e) => e.reference ?? null),
            batch.map((e) => e.success ?? true),
            batch.map((e) => e.clientIp ?? null),
            batch.map((e) => (e.detail ? JSON.stringify(e.detail) : null)),
          ],
        );
      } catch (err) {
        this.logger.error({ err, events: batch.length }, "could not write audit events");
      }
    });
    return this.flushing;
  }

  async query(q: AuditQuery): Promise<AuditEvent[]> {
    await this.flush();
    const rows = await this.prisma.auditEvent.findMany({
      where: {
        actor: q.actor,
        action: Array.isArray(q.action) ? { in: q.action } : q.action,
        repository: q.repository,
        at: { gte: q.since, lte: q.until },
        id: q.before ? { lt: BigInt(q.before) } : undefined,
      },
      orderBy: { id: "desc" },
      take: q.limit,
    });
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
