import type { Logger } from "pino";
import type { AuditStore, NewAuditRow } from "../metadata/audit-store";
import { isDataError } from "../metadata/sql-errors";
import type { BerthEvent, EventAction } from "../events/event-bus";
import type { Outcome } from "../events/vocabulary";
import { projectOf } from "../kernel/names";

/** One row of the audit log. */
export interface AuditEventInput {
  actor: string;
  action: EventAction;
  repository?: string | null;
  reference?: string | null;
  success?: boolean;
  outcome?: Outcome;
  project?: string | null;
  clientIp?: string | null;
  detail?: Record<string, unknown> | null;
}

export interface AuditEvent extends Required<Omit<AuditEventInput, "detail" | "action" | "outcome">> {
  id: string;
  /** An EventAction; rows written before the vocabulary existed may say "admin". */
  action: string;
  outcome: string;
  at: Date;
  detail: Record<string, unknown> | null;
}

export interface AuditQuery {
  actor?: string;
  /** One action, or any of several (a category such as "admin", see actionsInCategory). */
  action?: string | string[];
  repository?: string;
  /** Events in this project only (a project admin's view is held to their project). */
  project?: string;
  outcome?: Outcome;
  since?: Date;
  until?: Date;
  /** Events older than this id (the previous page's last id). */
  before?: string;
  limit: number;
}

export interface AuditLogOptions {
  flushIntervalMs?: number;
  /** Called once per event the database refused even when written alone (counted in /metrics). */
  writeFailed?: () => void;
  /** Called with the events given up while the database could not be written to (counted in /metrics). */
  dropped?: (events: number) => void;
  /** Most events kept while the database cannot be written to; past it, the oldest are dropped. */
  maxPending?: number;
  /** Waits between attempts while the database cannot be written to: doubling from the first to the most. */
  retry?: { firstMs: number; maxMs: number };
}

type PendingEvent = AuditEventInput & { at: Date };

/** Most events written in one statement. */
const MAX_BATCH = 1000;

/**
 * Who did what, from where: every event on the event bus (src/events/vocabulary.ts), of which it is a
 * subscriber — nothing writes to it directly. Requests only enqueue: events are written in batches off
 * the request path, so a pull costs no extra database round trip. close() flushes what is pending.
 *
 * A batch the database refuses for its data (one event's bad value) is written event by event, so that
 * event is the only one lost. A batch that fails for any other reason (the database is down, the pool
 * exhausted) is kept whole and retried later with backoff, up to maxPending events.
 */
export class AuditLog {
  private pending: PendingEvent[] = [];
  private flushing: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;
  private readonly options: Required<Omit<AuditLogOptions, "flushIntervalMs">>;
  /** Failed attempts in a row, and when the timer may try again. */
  private outage = { attempts: 0, retryAt: 0 };
  private dueFlush = false;

  constructor(
    private readonly store: AuditStore,
    private readonly logger: Logger,
    options: AuditLogOptions = {},
  ) {
    this.options = {
      writeFailed: options.writeFailed ?? (() => {}),
      dropped: options.dropped ?? (() => {}),
      maxPending: options.maxPending ?? 50_000,
      retry: options.retry ?? { firstMs: 1000, maxMs: 60_000 },
    };
    this.timer = setInterval(() => this.flushWhenDue(), options.flushIntervalMs ?? 1000);
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
      outcome: event.outcome,
      project: projectOfEvent(event),
      clientIp: event.actor.address,
      detail: Object.keys(detail).length ? detail : null,
    });
    this.bound();
    if (this.pending.length >= 200) this.flushWhenDue();
  }

  /** Events waiting to be written (more than a batch while the database cannot be written to). */
  get backlog(): number {
    return this.pending.length;
  }

  /** Writes what is pending now, whether or not a retry is due. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      // In batches of at most MAX_BATCH: a backlog from an outage is not one huge statement, and a bad
      // event in it costs the event-by-event retry of its own batch only.
      while (this.pending.length) {
        const batch = this.pending.splice(0, MAX_BATCH);
        if (!(await this.write(batch))) return;
      }
    });
    return this.flushing;
  }

  /** Writes one batch; false when the database could not be written to (the unwritten events kept). */
  private async write(batch: PendingEvent[]): Promise<boolean> {
    try {
      await this.store.insert(batch.map(toRow));
      this.outage = { attempts: 0, retryAt: 0 };
      return true;
    } catch (err) {
      if (!isDataError(err)) {
        this.keep(batch, err);
        return false;
      }
      // One event the database refuses must not take the others with it: write them one by one.
      this.logger.warn({ err, events: batch.length }, "audit batch refused; writing its events one by one");
      for (const [i, event] of batch.entries()) {
        const unavailable = await this.insertOne(event);
        if (unavailable) {
          this.keep(batch.slice(i), unavailable);
          return false;
        }
      }
      this.outage = { attempts: 0, retryAt: 0 };
      return true;
    }
  }

  /** The timer's and a full queue's flush: one at a time, and not before a retry is due. */
  private flushWhenDue(): void {
    if (this.dueFlush || Date.now() < this.outage.retryAt) return;
    this.dueFlush = true;
    void this.flush().finally(() => {
      this.dueFlush = false;
    });
  }

  /** Writes one event; resolves to the error when the database is unavailable (the event not written). */
  private async insertOne(event: PendingEvent): Promise<unknown> {
    try {
      await this.store.insert([toRow(event)]);
      return null;
    } catch (err) {
      if (!isDataError(err)) return err;
      this.options.writeFailed();
      this.logger.error({ err, action: event.action, repository: event.repository?.slice(0, 200) }, "could not write an audit event");
      return null;
    }
  }

  /** Puts events the database could not take back in front of the queue and waits before the next attempt. */
  private keep(events: PendingEvent[], err: unknown): void {
    this.pending = events.concat(this.pending);
    this.bound();
    const { firstMs, maxMs } = this.options.retry;
    const waitMs = Math.min(maxMs, firstMs * 2 ** Math.min(this.outage.attempts, 30));
    this.outage = { attempts: this.outage.attempts + 1, retryAt: Date.now() + waitMs };
    this.logger.warn({ err, pending: this.pending.length, retryInMs: waitMs }, "could not write audit events; keeping them to retry");
  }

  /** Drops the oldest events past maxPending (counted), so an outage cannot exhaust memory. */
  private bound(): void {
    const over = this.pending.length - this.options.maxPending;
    if (over <= 0) return;
    this.pending.splice(0, over);
    this.options.dropped(over);
    this.logger.error({ dropped: over, maxPending: this.options.maxPending }, "audit events dropped: the database has been unavailable too long");
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
      outcome: r.outcome,
      project: r.project,
      clientIp: r.clientIp,
      detail: r.detail as Record<string, unknown> | null,
    }));
  }

  /** Every event the query matches, newest first, a page (at most q.limit events) at a time: for exports. */
  async *pages(q: Omit<AuditQuery, "before"> & { before?: string }): AsyncIterable<AuditEvent[]> {
    let before = q.before;
    for (;;) {
      const page = await this.query({ ...q, before });
      if (page.length) yield page;
      if (page.length < q.limit) return;
      before = page[page.length - 1].id;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
    // The last attempt failed too: nothing will retry these.
    if (this.pending.length) {
      this.options.dropped(this.pending.length);
      this.logger.error({ dropped: this.pending.length }, "audit events dropped at shutdown: the database could not be written to");
      this.pending = [];
    }
  }
}

/**
 * The project an event touched: the one it names, else its repository's, else the one its detail names
 * (member and rule changes), else the one a project change is about ("project <name>").
 */
function projectOfEvent(event: BerthEvent): string | null {
  if (event.project) return event.project;
  if (event.repository) return projectOf(event.repository);
  const named = (event.detail as { project?: unknown }).project;
  if (typeof named === "string") return named;
  return event.reference?.startsWith("project ") ? event.reference.slice("project ".length) : null;
}

function toRow(e: PendingEvent): NewAuditRow {
  const outcome = e.outcome ?? (e.success === false ? "failed" : "success");
  return {
    at: e.at,
    actor: e.actor,
    action: e.action,
    repository: e.repository ?? null,
    reference: e.reference ?? null,
    success: outcome === "success",
    outcome,
    project: e.project ?? null,
    clientIp: e.clientIp ?? null,
    detail: e.detail ?? null,
  };
}
