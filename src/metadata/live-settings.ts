import type { Database } from "./database";
import type { SettingStore, StoredSetting } from "./settings-store";

/** The channel the trigger of migration 20261205150100_gc_explain announces setting changes on. */
const CHANNEL = "berth_setting_change";

/**
 * The stored settings as every replica sees them: read once, re-read whenever the database announces a
 * change (from any replica or tool), and every `refreshMs` as well, which bounds staleness while the
 * announcements cannot be heard. Subscribers hear about each re-read that changed something.
 */
export class LiveSettings {
  private current = new Map<string, StoredSetting>();
  private readonly subscribers = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;
  private listener: { close(): Promise<void> } | undefined;
  /** Bumped by each re-read, so one that started earlier does not overwrite a newer one. */
  private generation = 0;
  private latest: Promise<void> = Promise.resolve();

  constructor(
    readonly store: SettingStore,
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

  /** Reads the settings, then listens for changes and re-reads every `refreshMs`; close() stops. */
  static async start(
    database: Pick<Database, "listen">,
    store: SettingStore,
    options: { refreshMs?: number; onError?: (err: unknown) => void } = {},
  ): Promise<LiveSettings> {
    const live = new LiveSettings(store, options.onError);
    await live.refresh();
    live.listener = await database.listen(CHANNEL, {
      message: () => void live.refresh().catch(live.onError),
      listening: () => void live.refresh().catch(live.onError),
      lost: () => {},
    });
    live.timer = setInterval(() => void live.refresh().catch(live.onError), options.refreshMs ?? 30_000);
    live.timer.unref();
    return live;
  }

  get(key: string): StoredSetting | undefined {
    return this.current.get(key);
  }

  /** Called after every re-read that changed a value; returns the unsubscribe function. */
  subscribe(fn: () => void): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  /** Re-reads the settings; resolves once the newest read under way (this one or a later one) is in force. */
  refresh(): Promise<void> {
    const generation = ++this.generation;
    const done: Promise<void> = this.store.all().then((next) => {
      // A later read started meanwhile (it may see a newer change): that one decides.
      if (generation !== this.generation) return this.latest;
      const changed = !sameSettings(this.current, next);
      this.current = next;
      if (changed) for (const fn of this.subscribers) fn();
    });
    this.latest = done;
    return done;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.listener?.close();
  }
}

function sameSettings(a: Map<string, StoredSetting>, b: Map<string, StoredSetting>): boolean {
  if (a.size !== b.size) return false;
  for (const [key, s] of a) {
    const t = b.get(key);
    if (!t || JSON.stringify(t.value) !== JSON.stringify(s.value)) return false;
  }
  return true;
}
