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
 * they can). A read fills the cache only if no announcement arrived while it ran (the epoch), so it cannot
 * put back what a change just made stale.
 */
export class CredentialStates implements CredentialStateSource {
  private readonly entries = new Map<string, Entry>();
  private epoch = 0;

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
    const epoch = this.epoch;
    const state = await this.accounts.credentialState(account);
    if (epoch === this.epoch) {
      if (this.entries.size >= this.maxEntries) this.entries.clear();
      this.entries.set(key, { state, until: Date.now() + this.maxAgeMs });
    }
    return state;
  }

  private forget(key: string): void {
    this.epoch++;
    this.entries.delete(key);
  }

  private clear(): void {
    this.epoch++;
    this.entries.clear();
  }
}
