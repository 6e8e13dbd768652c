import type { Logger } from "pino";
import type { AuditStore } from "../metadata/audit-store";

export interface AuditEventInput {
  actor: string;
  action: "push" | "pull" | "delete" | "login" | "token" | "admin";
  repository?: string | null;
  reference?: string | null;
  success?: boolean;
  clientIp?: string | null;
  detail?: Record<string, unknown> | null;
}

export interface AuditEvent extends Required<Omit<AuditEventInput, "detail">> {
  id: string;
  at: Date;
  detail: Record<string, unknown> | null;
}

export interface AuditQuery {
  actor?: string;
  action?: string;
  repository?: string;
  since?: Date;
  until?: Date;
  /** Events older than this id (the previous page's last id). */
  before?: string;
  limit: number;
}

/**
 * Who pushed, pulled, deleted and logged in. Requests only enqueue: events are written in batches off the
 * request path, so a pull costs no extra database round trip. close() flushes what is pending.
 */
export class AuditLog {
  private pending: Array<AuditEventInput & { at: Date }> = [];
  private flushing: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly store: AuditStore,
    private readonly logger: Logger,
    private readonly flushIntervalMs = 1000,
  ) {
    this.timer = setInterval(() => void this.flush(), this.flushIntervalMs);
    this.timer.unref();
  }

  record(event: AuditEventInput): void {
    // The event's own time, not the batch's: last-pulled times are derived from it.
    this.pending.push({ ...event, at: new Date() });
    if (this.pending.length >= 200) void this.flush();
  }

  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      const batch = this.pending;
      if (!batch.length) return;
      this.pending = [];
      try {
        await this.store.insert(
          batch.map((e) => ({
            at: e.at,
            actor: e.actor,
            action: e.action,
            repository: e.repository ?? null,
            reference: e.reference ?? null,
            success: e.success ?? true,
            clientIp: e.clientIp ?? null,
            detail: e.detail ?? null,
          })),
        );
      } catch (err) {
        this.logger.error({ err, events: batch.length }, "could not write audit events");
      }
    });
    return this.flushing;
  }

  async query(q: AuditQuery): Promise<AuditEvent[]> {
    await this.flush();
    const rows = await this.store.find({ ...q, before: q.before ? BigInt(q.before) : undefined });
    return rows.map((r) => ({
      id: r.id.toString(),
      at: r.at,
      actor: r.actor,
      action: r.action as AuditEvent["action"],
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
