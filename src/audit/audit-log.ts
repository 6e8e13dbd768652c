import type { Logger } from "pino";
import type { PrismaClient } from "../generated/prisma/client";

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
  private pending: AuditEventInput[] = [];
  private flushing: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly logger: Logger,
    private readonly flushIntervalMs = 1000,
  ) {
    this.timer = setInterval(() => void this.flush(), this.flushIntervalMs);
    this.timer.unref();
  }

  record(event: AuditEventInput): void {
    this.pending.push(event);
    if (this.pending.length >= 200) void this.flush();
  }

  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      const batch = this.pending;
      if (!batch.length) return;
      this.pending = [];
      try {
        await this.prisma.auditEvent.createMany({
          data: batch.map((e) => ({
            actor: e.actor,
            action: e.action,
            repository: e.repository ?? null,
            reference: e.reference ?? null,
            success: e.success ?? true,
            clientIp: e.clientIp ?? null,
            detail: (e.detail ?? undefined) as never,
          })),
        });
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
        action: q.action,
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
