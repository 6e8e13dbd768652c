import { createReadStream } from "node:fs";
import type { FileWriter, WriterState } from "../storage/driver";

/** How often the leader makes newly downloaded bytes durable (and visible to other replicas). */
const SHARE_INTERVAL_MS = 250;

/**
 * The leader's side of a shared download: copies the spool into an upload in shared storage while the
 * download goes on — every SHARE_INTERVAL_MS whatever arrived meanwhile, one append at a time — and
 * publishes each durable step (bytes and the driver state that reads them) for followers on other replicas.
 * When the digest verifies the same upload is committed into blob place, so the bytes are copied once.
 */
export class UploadSharer {
  private spooled = 0;
  private appending: Promise<void> | null = null;
  private failure: Error | null = null;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly writer: FileWriter,
    private readonly spoolPath: string,
    private readonly publish: (written: number, state: WriterState) => Promise<void>,
  ) {
    this.timer = setInterval(() => this.share(), SHARE_INTERVAL_MS);
  }

  /** The spool now holds `bytes`. Throws when sharing failed, which ends the download. */
  spooledTo(bytes: number): void {
    if (this.failure) throw this.failure;
    this.spooled = bytes;
  }

  /** Appends the rest and returns the writer, holding every spooled byte, for the commit. */
  async drain(): Promise<FileWriter> {
    clearInterval(this.timer);
    await this.appending;
    if (this.failure) throw this.failure;
    if (this.writer.size < this.spooled) await this.append();
    return this.writer;
  }

  async cancel(): Promise<void> {
    clearInterval(this.timer);
    await this.appending;
    await this.writer.cancel();
  }

  private share(): void {
    if (this.appending || this.failure || this.writer.size >= this.spooled) return;
    this.appending = this.append()
      .catch((err: Error) => void (this.failure = err))
      .finally(() => (this.appending = null));
  }

  private async append(): Promise<void> {
    await this.writer.append(createReadStream(this.spoolPath, { start: this.writer.size, end: this.spooled - 1 }));
    await this.publish(this.writer.size, this.writer.checkpoint());
  }
}
