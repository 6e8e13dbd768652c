import type { Database } from "./database";
import type { AccountRef, AccountStore, CredentialState } from "./account-store";

/** The channel the triggers of migration 20261205140000_credential_generation announce account changes on. */
const CHANNEL = "berth_account_change";

/** Reads credential states; CredentialStates caches them, the account store reads them fresh. */
export interface CredentialStateSource {
  credentialState(account: AccountRef): Promise<CredentialState | null>;
}

interface Entry {
  state: CredentialState | null;
  until: number;
}

/**
 * Accounts' credential states as the access-token check needs them on every registry request, without a
 * database round trip each time. The database announces every change to an account, from whatever
 * replica or tool, and the account's entry goes at once; entries also expire after `maxAgeMs`, which bounds
 * how stale an entry can be while announcements cannot be heard (then the cache starts empty again once
 * they can). Concurrent misses for one account share one read; a read fills the cache only if no
 * announcement for that account arrived while it ran, so it cannot put back what a change just made stale.
 */
export class CredentialStates implements CredentialStateSource {
  private readonly entries = new Map<string, Entry>();
  /** Reads under way, by account; an announcement removes the account's, which keeps it out of the cache. */
  private readonly reading = new Map<string, Promise<CredentialState | null>>();

  constructor(
    private readonly accounts: Pick<AccountStore, "credentialState">,
    private readonly maxAgeMs: number,
    private readonly maxEntries = 50_000,
  ) {}

  /** Listens for the database's announcements; close() stops. */
  static async listening(
    database: Pick<Database, "listen">,
    accounts: Pick<AccountStore, "credentialState">,
    maxAgeMs = 5_000,
  ): Promise<{ states: CredentialStates; close(): Promise<void> }> {
    const states = new CredentialStates(accounts, maxAgeMs);
    const listener = await database.listen(CHANNEL, {
      message: (payload) => states.forget(payload),
      listening: () => states.clear(),
      lost: () => states.clear(),
    });
    return { states, close: () => listener.close() };
  }

  async credentialState(account: AccountRef): Promise<CredentialState | null> {
    const key = `${account.kind}:${account.id}`;
    const hit = this.entries.get(key);
    if (hit && hit.until > Date.now()) return hit.state;
    const pending = this.reading.get(key);
    if (pending) return pending;
    const read: Promise<CredentialState | null> = this.accounts.credentialState(account).then(
      (state) => {
        if (this.reading.get(key) === read) {
          this.reading.delete(key);
          if (this.entries.size >= this.maxEntries) this.entries.clear();
          this.entries.set(key, { state, until: Date.now() + this.maxAgeMs });
        }
        return state;
      },
      (err: unknown) => {
        if (this.reading.get(key) === read) this.reading.delete(key);
        throw err;
      },
    );
    this.reading.set(key, read);
    return read;
  }

  private forget(key: string): void {
    this.entries.delete(key);
    this.reading.delete(key);
  }

  private clear(): void {
    this.entries.clear();
    this.reading.clear();
  }
}
