// Runs garbage collection on the configured schedule inside the server. Every replica runs the same
// schedule; the collector lock lets one of them work and the others skip that turn.
import type { Logger } from "pino";
import type { Schedule } from "../config/schedule";

/** setTimeout's limit (~24.8 days); a later due time is reached in several hops. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class GcScheduler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;

  constructor(
    private readonly schedule: Schedule,
    private readonly job: () => Promise<void>,
    private readonly logger?: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** The next due time while started, else null. */
  nextRun: Date | null = null;

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.arm();
  }

  /** Stops arming new runs and waits for one in progress (the job should honour its own abort signal). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.nextRun = null;
    clearTimeout(this.timer);
    await this.running;
  }

  private arm(): void {
    if (this.stopped) return;
    let due: Date;
    try {
      due = this.schedule.next(this.now());
    } catch (err) {
      // A schedule that cannot be armed stops scheduling; it must never take the server down with it.
      this.logger?.error({ err, schedule: this.schedule.text }, "garbage collection schedule disabled: it cannot be armed");
      this.nextRun = null;
      return;
    }
    this.nextRun = due;
    const wait = () => {
      const left = due.getTime() - this.now().getTime();
      if (left > MAX_TIMER_MS) {
        this.timer = setTimeout(wait, MAX_TIMER_MS);
      } else {
        this.timer = setTimeout(() => void this.fire(), Math.max(left, 0));
      }
      this.timer.unref();
    };
    wait();
  }

  private async fire(): Promise<void> {
    if (this.stopped) return;
    this.running = this.job().catch((err: unknown) => this.logger?.error({ err }, "scheduled garbage collection failed"));
    await this.running;
    this.running = undefined;
    this.arm();
  }
}
