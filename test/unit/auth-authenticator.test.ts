// Authenticator: credentials → principal, with the login throttle and audit, over an in-memory store.
import type { EventInput } from "../../src/events/event-bus";
import type { AccountStore, RobotRow, UserRow } from "../../src/metadata/account-store";
import { Authenticator, parseBasic, parseBearer } from "../../src/auth/authenticator";
import { LoginThrottle } from "../../src/auth/login-throttle";
import { hashSecret } from "../../src/auth/passwords";
import { DomainError } from "../../src/kernel/errors";

const MAX_FAILURES = 3;

class Store {
  users = new Map<string, UserRow>();
  robots = new Map<string, RobotRow>();
  async findUser(name: string) {
    return this.users.get(name) ?? null;
  }
  async findRobot(name: string) {
    return this.robots.get(name) ?? null;
  }
  async findUserById(id: number) {
    return [...this.users.values()].find((u) => u.id === id) ?? null;
  }
  async findRobotById(id: number) {
    return [...this.robots.values()].find((r) => r.id === id) ?? null;
  }
}

let store: Store;
let events: EventInput[];
let auth: Authenticator;
let hash: string;
let nextId = 0;

async function addUser(username: string, password: string, extra: Partial<UserRow> = {}): Promise<void> {
  store.users.set(username, { id: ++nextId, username, passwordHash: password === "same" ? hash : await hashSecret(password), isAdmin: false, disabled: false, createdAt: new Date(), credentialGeneration: 1, ...extra });
}

async function failure(promise: Promise<unknown>): Promise<{ code: string; retryAfterSeconds?: number } | "ok"> {
  try {
    await promise;
    return "ok";
  } catch (err) {
    if (err instanceof DomainError) return { code: err.code, retryAfterSeconds: err.retryAfterSeconds };
    throw err;
  }
}

beforeAll(async () => {
  hash = await hashSecret("same");
});

beforeEach(async () => {
  store = new Store();
  events = [];
  auth = new Authenticator(store as unknown as AccountStore, new LoginThrottle(MAX_FAILURES, 60_000), { record: (e) => events.push(e) });
  await addUser("alice", "alice-password");
});

describe("Authenticator.login", () => {
  it("returns the user for the right password and refuses wrong, unknown and disabled accounts", async () => {
    expect(await auth.login("alice", "alice-password", "ip")).toEqual({ kind: "user", name: "alice", id: store.users.get("alice")!.id, generation: 1, isAdmin: false });
    expect(await failure(auth.login("alice", "wrong-password", "ip"))).toMatchObject({ code: "Unauthorized" });
    expect(await failure(auth.login("nobody", "alice-password", "ip"))).toMatchObject({ code: "Unauthorized" });
    await addUser("off", "off-password", { disabled: true });
    expect(await failure(auth.login("off", "off-password", "ip"))).toMatchObject({ code: "Unauthorized" });
  });

  it("reads robot$… names as robots; an expired or disabled robot is refused", async () => {
    const secretHash = await hashSecret("robot-secret");
    const robot = (name: string, extra: Partial<RobotRow> = {}): RobotRow => ({
      id: ++nextId, name, secretHash, description: "", permissions: [{ project: "p", actions: ["pull"] }], expiresAt: null, disabled: false, createdAt: new Date(), credentialGeneration: 1, projectId: null, project: null, ...extra,
    });
    store.robots.set("robot$ci", robot("robot$ci"));
    store.robots.set("robot$old", robot("robot$old", { expiresAt: new Date(Date.now() - 1000) }));
    store.robots.set("robot$off", robot("robot$off", { disabled: true }));
    expect(await auth.login("robot$ci", "robot-secret", "ip")).toMatchObject({ kind: "robot", name: "robot$ci", permissions: [{ project: "p", actions: ["pull"] }] });
    expect(await failure(auth.login("robot$old", "robot-secret", "ip"))).toMatchObject({ code: "Unauthorized" });
    expect(await failure(auth.login("robot$off", "robot-secret", "ip"))).toMatchObject({ code: "Unauthorized" });
    // A user of the same bare name is not a robot and vice versa.
    expect(await failure(auth.login("ci", "robot-secret", "ip"))).toMatchObject({ code: "Unauthorized" });
    // Each refusal is one login event saying why; the client hears the same 401 for all of them.
    expect(await failure(auth.login("robot$ci", "wrong-secret", "ip"))).toMatchObject({ code: "Unauthorized" });
    expect(await failure(auth.login("robot$ghost", "robot-secret", "ip"))).toMatchObject({ code: "Unauthorized" });
    expect(await failure(auth.login("robot$a\u0000b", "robot-secret", "ip"))).toMatchObject({ code: "Unauthorized" });
    const refusals = events.filter((e) => e.action === "login" && e.success === false).map((e) => [e.actor.name, e.detail]);
    expect(refusals).toEqual([
      ["robot$old", { reason: "expired" }],
      ["robot$off", { reason: "disabled" }],
      ["ci", { reason: "unknown_account" }],
      ["robot$ci", { reason: "wrong_secret" }],
      ["robot$ghost", { reason: "unknown_account" }],
      ["robot$a\u0000b", { reason: "unknown_account" }],
    ]);
  });

  it("audits logins with success or failure, and never the password", async () => {
    await auth.login("alice", "alice-password", "10.1.1.1");
    await failure(auth.login("alice", "Sentinel-Wrong-Pw", "10.1.1.1"));
    expect(events).toEqual([
      expect.objectContaining({ actor: { kind: "user", name: "alice", address: "10.1.1.1" }, action: "login", success: true, detail: {} }),
      expect.objectContaining({ actor: { kind: "user", name: "alice", address: "10.1.1.1" }, action: "login", success: false, detail: { reason: "wrong_password" } }),
    ]);
    expect(JSON.stringify(events)).not.toMatch(/alice-password|Sentinel-Wrong-Pw/);
  });

  it(`throttles after ${MAX_FAILURES} failures: 429 with Retry-After, the right password too, per address`, async () => {
    for (let i = 0; i < MAX_FAILURES; i++) expect(await failure(auth.login("alice", `guess-${i}`, "1.2.3.4"))).toMatchObject({ code: "Unauthorized" });
    const throttled = await failure(auth.login("alice", "guess-x", "1.2.3.4"));
    expect(throttled).toMatchObject({ code: "TooManyRequests", retryAfterSeconds: expect.any(Number) });
    expect(await failure(auth.login("alice", "alice-password", "1.2.3.4"))).toMatchObject({ code: "TooManyRequests" });
    expect(await failure(auth.login("alice", "alice-password", "5.6.7.8"))).toBe("ok");
  });

  it("parallel guesses cannot all slip past the throttle", async () => {
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => failure(auth.login("alice", `parallel-${i}`, "9.9.9.9"))));
    const tried = results.filter((r) => r !== "ok" && r.code === "Unauthorized").length;
    expect(tried).toBeLessThanOrEqual(MAX_FAILURES);
  });

  it("a locked account answers 429 to the right password too, even one a recent login cached (no oracle)", async () => {
    expect(await failure(auth.login("alice", "alice-password", "7.7.7.1"))).toBe("ok");
    for (let i = 0; i < MAX_FAILURES; i++) await failure(auth.login("alice", `cached-guess-${i}`, "7.7.7.2"));
    expect(await failure(auth.login("alice", "alice-password", "7.7.7.2"))).toMatchObject({ code: "TooManyRequests" });
  });

  it("parallel logins with the right password are one attempt, never a lockout", async () => {
    const results = await Promise.all(Array.from({ length: 3 * MAX_FAILURES }, () => failure(auth.login("alice", "alice-password", "8.8.8.8"))));
    expect(results.every((r) => r === "ok")).toBe(true);
    expect(await failure(auth.login("alice", "alice-password", "8.8.8.8"))).toBe("ok");
  });

  it("does not keep accepting a password after the account changed (disabled, new password, deleted)", async () => {
    await addUser("bob", "bob-password");
    await addUser("carol", "carol-password");
    await addUser("dave", "dave-password");
    for (const name of ["bob", "carol", "dave"]) await auth.login(name, `${name}-password`, "ip");
    store.users.get("bob")!.disabled = true;
    store.users.get("carol")!.passwordHash = await hashSecret("carol-new-password");
    store.users.delete("dave");
    const outcome = {
      bob: await failure(auth.login("bob", "bob-password", "ip")),
      carol: await failure(auth.login("carol", "carol-password", "ip")),
      dave: await failure(auth.login("dave", "dave-password", "ip")),
    };
    expect(outcome).toEqual({
      bob: expect.objectContaining({ code: "Unauthorized" }),
      carol: expect.objectContaining({ code: "Unauthorized" }),
      dave: expect.objectContaining({ code: "Unauthorized" }),
    });
  });

  it("answers an unknown user about as slowly as a known one (no username enumeration by timing)", async () => {
    await addUser("erin", "same");
    const time = async (username: string) => {
      const start = process.hrtime.bigint();
      await failure(auth.login(username, `wrong-${Math.random()}`, `t-${Math.random()}`));
      return Number(process.hrtime.bigint() - start) / 1e6;
    };
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 5; i++) {
      known.push(await time("erin"));
      unknown.push(await time(`ghost-${i}`));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    // A KDF run takes tens of milliseconds; skipping it for unknown names makes them ~100x faster.
    expect({ known: median(known) > 5, ratio: median(unknown) / median(known) > 0.3 }).toEqual({ known: true, ratio: true });
  });
});

describe("byAccount (tokens and sessions)", () => {
  it("returns the account as it is now by id, or null when it is gone, disabled, of another generation or expired", async () => {
    const alice = store.users.get("alice")!;
    const ref = { kind: "user" as const, id: alice.id };
    expect(await auth.byAccount(ref, 1)).toMatchObject({ kind: "user", name: "alice", generation: 1 });
    alice.isAdmin = true;
    expect(await auth.byAccount(ref, 1)).toMatchObject({ isAdmin: true });
    expect(await auth.byAccount(ref, 2)).toBeNull();
    alice.credentialGeneration = 2;
    expect(await auth.byAccount(ref, 1)).toBeNull();
    expect(await auth.byAccount(ref, 2)).toMatchObject({ name: "alice" });
    alice.disabled = true;
    expect(await auth.byAccount(ref, 2)).toBeNull();
    // The same name under a new id is another account: a reference to the old id finds nothing.
    store.users.delete("alice");
    await addUser("alice", "alice-password");
    expect(await auth.byAccount(ref, 1)).toBeNull();
    expect(await auth.byAccount({ kind: "robot", id: alice.id }, 1)).toBeNull();
    const hash = await hashSecret("robot-secret");
    store.robots.set("robot$old", { id: ++nextId, name: "robot$old", secretHash: hash, description: "", permissions: [], expiresAt: new Date(Date.now() - 1000), disabled: false, createdAt: new Date(), credentialGeneration: 1, projectId: null, project: null });
    expect(await auth.byAccount({ kind: "robot", id: nextId }, 1)).toBeNull();
  });
});
