// AccountService rules (names, passwords, robot permissions, roles) over an in-memory stand-in for the store.
import { AccountService } from "../../src/auth/account-service";
import type { AccountStore, ProjectRow, RobotRow, UserRow } from "../../src/metadata/account-store";
import { verifySecret } from "../../src/auth/passwords";
import type { RobotPermission, Role } from "../../src/auth/principal";
import { DomainError } from "../../src/kernel/errors";

class MemoryStore {
  users = new Map<string, UserRow>();
  robots = new Map<string, RobotRow>();
  projects = new Map<string, ProjectRow>();
  members = new Map<string, Role>();
  private id = 0;

  async findUser(username: string) {
    return this.users.get(username) ?? null;
  }
  async findRobot(name: string) {
    return this.robots.get(name) ?? null;
  }
  async findProject(name: string) {
    return this.projects.get(name) ?? null;
  }
  async findRole(projectId: number, userId: number) {
    return this.members.get(`${projectId}/${userId}`) ?? null;
  }
  async countUsers() {
    return this.users.size;
  }
  async listUsers() {
    return [...this.users.values()];
  }
  async createUser(data: { username: string; passwordHash: string; isAdmin: boolean }) {
    const row: UserRow = { id: ++this.id, disabled: false, createdAt: new Date(), credentialGeneration: 1, ...data };
    this.users.set(data.username, row);
    return row;
  }
  async updateUser(username: string, data: Partial<UserRow>) {
    const row = this.users.get(username);
    if (!row) return null;
    Object.assign(row, data);
    return row;
  }
  async deleteUser(username: string) {
    return this.users.delete(username);
  }
  async listRobots(projectId?: number | null) {
    return [...this.robots.values()].filter((r) => projectId === undefined || r.projectId === projectId);
  }
  async createRobot(data: { name: string; secretHash: string; description: string; permissions: RobotPermission[]; expiresAt: Date | null; projectId: number | null }) {
    const project = [...this.projects.values()].find((p) => p.id === data.projectId)?.name ?? null;
    const row: RobotRow = { id: ++this.id, disabled: false, createdAt: new Date(), credentialGeneration: 1, project, ...data };
    this.robots.set(data.name, row);
    return row;
  }
  async updateRobot(id: number, data: Partial<RobotRow>) {
    const row = [...this.robots.values()].find((r) => r.id === id);
    if (!row) return null;
    Object.assign(row, data);
    return { ...row };
  }
  async deleteRobot(id: number) {
    const row = [...this.robots.values()].find((r) => r.id === id);
    return row ? this.robots.delete(row.name) : false;
  }
  async listProjects() {
    return [...this.projects.values()];
  }
  /** Quotas by project id (no repositories here: usage stays 0). */
  quotas = new Map<number, number | null>();
  async setProjectQuota(name: string, quotaBytes: number | null) {
    const project = this.projects.get(name);
    if (project) this.quotas.set(project.id, quotaBytes);
    return project !== undefined;
  }
  async projectFigures(ids: number[]) {
    return new Map(ids.map((id) => [id, { repositories: 0, usedBytes: 0, quotaBytes: this.quotas.get(id) ?? null }]));
  }
  async ensureProject(name: string, ownerId: number | null, isPublic = false) {
    const existing = this.projects.get(name);
    if (existing) return { project: existing, created: false };
    const project: ProjectRow = { id: ++this.id, name, public: isPublic, ownerId, createdAt: new Date(), implicit: false };
    this.projects.set(name, project);
    if (ownerId !== null) this.members.set(`${project.id}/${ownerId}`, "admin");
    return { project, created: true };
  }
  async setMember(projectId: number, userId: number, role: Role) {
    this.members.set(`${projectId}/${userId}`, role);
  }
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof DomainError) return err.code;
    throw err;
  }
  return "resolved";
}

describe("AccountService", () => {
  let store: MemoryStore;
  let accounts: AccountService;
  beforeEach(() => {
    store = new MemoryStore();
    accounts = new AccountService(store as unknown as AccountStore);
  });

  describe("users", () => {
    it("stores a scrypt hash of the password, never the password, and never shows the hash", async () => {
      const view = await accounts.addUser("alice", "alice-password");
      expect(view).toEqual({ username: "alice", isAdmin: false, disabled: false, createdAt: expect.any(Date) });
      const row = store.users.get("alice")!;
      expect(row.passwordHash).toMatch(/^scrypt\$/);
      expect(row.passwordHash).not.toContain("alice-password");
      expect(await verifySecret("alice-password", row.passwordHash)).toBe(true);
      expect(JSON.stringify(await accounts.listUsers())).not.toMatch(/scrypt|passwordHash/);
    });

    it("refuses bad names, short passwords and duplicates", async () => {
      expect(await codeOf(accounts.addUser("Alice", "long-enough"))).toBe("InvalidRequest");
      expect(await codeOf(accounts.addUser("robot$x", "long-enough"))).toBe("InvalidRequest");
      expect(await codeOf(accounts.addUser("a/b", "long-enough"))).toBe("InvalidRequest");
      expect(await codeOf(accounts.addUser("", "long-enough"))).toBe("InvalidRequest");
      expect(await codeOf(accounts.addUser("bob", "short"))).toBe("InvalidRequest");
      await accounts.addUser("bob", "long-enough");
      expect(await codeOf(accounts.addUser("bob", "other-password"))).toBe("Conflict");
    });

    it("changes passwords with the same rules and reports unknown users", async () => {
      await accounts.addUser("carol", "first-password");
      expect(await codeOf(accounts.updateUser("carol", { password: "short" }))).toBe("InvalidRequest");
      await accounts.updateUser("carol", { password: "second-password" });
      expect(await verifySecret("second-password", store.users.get("carol")!.passwordHash)).toBe(true);
      expect(await verifySecret("first-password", store.users.get("carol")!.passwordHash)).toBe(false);
      expect(await codeOf(accounts.updateUser("nobody", { disabled: true }))).toBe("NotFound");
      expect(await codeOf(accounts.removeUser("nobody"))).toBe("NotFound");
    });

    it("bootstraps one admin: with the given password, or a generated one returned once", async () => {
      expect(await accounts.bootstrapAdmin("given-password")).toBeNull();
      expect(store.users.get("admin")?.isAdmin).toBe(true);
      expect(await accounts.bootstrapAdmin("another-password")).toBeUndefined();

      const fresh = new AccountService(new MemoryStore() as unknown as AccountStore);
      const generated = await fresh.bootstrapAdmin(undefined);
      expect(typeof generated).toBe("string");
      expect((generated as string).length).toBeGreaterThanOrEqual(16);
    });
  });

  describe("robots", () => {
    it("creates robot$<name> with a long random secret returned once; only its hash is kept", async () => {
      const { robot, secret } = await accounts.addRobot({ name: "ci", permissions: [{ project: "team-a", actions: ["pull", "push"] }] });
      expect(robot.name).toBe("robot$ci");
      expect(secret.length).toBeGreaterThanOrEqual(32);
      const row = store.robots.get("robot$ci")!;
      expect(row.secretHash).not.toContain(secret);
      expect(await verifySecret(secret, row.secretHash)).toBe(true);
      expect(JSON.stringify(robot)).not.toContain(secret);
      expect(JSON.stringify(await accounts.listRobots())).not.toMatch(/secret/i);
      // The prefix may be given or not: same robot.
      expect(await codeOf(accounts.addRobot({ name: "robot$ci", permissions: [{ project: "x", actions: ["pull"] }] }))).toBe("Conflict");
    });

    it("validates permissions: a project name (one segment) or '*', and only pull/push/delete", async () => {
      const bad: unknown[] = [
        [],
        [{ project: "team/a", actions: ["pull"] }],
        [{ project: "Team", actions: ["pull"] }],
        [{ project: "", actions: ["pull"] }],
        [{ project: "..", actions: ["pull"] }],
        [{ project: "a", actions: [] }],
        [{ project: "a", actions: ["admin"] }],
        [{ project: "a", actions: ["pull", "*"] }],
        [{ project: "a" }],
        [{ actions: ["pull"] }],
        [{ project: "a", actions: ["pull"] }, { project: "b", actions: ["destroy"] }],
      ];
      for (const permissions of bad) {
        expect({ permissions, code: await codeOf(accounts.addRobot({ name: "r", permissions: permissions as RobotPermission[] })) }).toEqual({
          permissions,
          code: "InvalidRequest",
        });
      }
      expect(store.robots.size).toBe(0);
    });

    it("refuses bad robot names", async () => {
      for (const name of ["", "CI", "robot$", "a b", "robot$robot$x", "x/y"]) {
        expect({ name, code: await codeOf(accounts.addRobot({ name, permissions: [{ project: "a", actions: ["pull"] }] })) }).toEqual({ name, code: "InvalidRequest" });
      }
    });

    it("refuses a robot that would be born expired, or with an expiry that is no date, naming the field", async () => {
      for (const expiresAt of [new Date(Date.now() - 1000), new Date(Date.now()), new Date("1970-01-01T00:00:00Z"), new Date(Number.NaN)]) {
        const refused = await accounts.addRobot({ name: "late", permissions: [{ project: "a", actions: ["pull"] }], expiresAt }).catch((err: DomainError) => err);
        expect({ expiresAt, code: (refused as DomainError).code, detail: (refused as DomainError).detail }).toEqual({ expiresAt, code: "InvalidRequest", detail: "expiresAt: must be in the future" });
      }
      expect(await accounts.listRobots()).toEqual([]);
    });

    it("accepts '*' and removes duplicate actions; keeps an expiry", async () => {
      const expiresAt = new Date(Date.now() + 86_400_000);
      const { robot } = await accounts.addRobot({
        name: "deploy",
        permissions: [
          { project: "*", actions: ["pull", "pull"] },
          { project: "team-b", actions: ["push", "delete", "push"] },
        ],
        expiresAt,
      });
      expect(robot.permissions).toEqual([
        { project: "*", actions: ["pull"] },
        { project: "team-b", actions: ["push", "delete"] },
      ]);
      expect(robot.expiresAt).toEqual(expiresAt);
    });
  });

  describe("robot lifecycle and project robots", () => {
    const pull = (project: string): RobotPermission[] => [{ project, actions: ["pull"] }];

    it("names a project robot robot$<project>+<name> and keeps its rights within the project", async () => {
      await accounts.addProject("team-a");
      const { robot } = await accounts.addRobot({ name: "ci", permissions: pull("team-a"), project: "team-a" });
      expect(robot).toMatchObject({ name: "robot$team-a+ci", project: "team-a" });
      // The full name may be given too; another project's prefix is no name.
      expect(await codeOf(accounts.addRobot({ name: "robot$team-a+ci", permissions: pull("team-a"), project: "team-a" }))).toBe("Conflict");
      expect(await codeOf(accounts.addRobot({ name: "robot$team-b+x", permissions: pull("team-a"), project: "team-a" }))).toBe("InvalidRequest");
      for (const permissions of [pull("*"), pull("team-b"), [...pull("team-a"), ...pull("team-b")]]) {
        expect({ permissions, code: await codeOf(accounts.addRobot({ name: "wide", permissions, project: "team-a" })) }).toEqual({ permissions, code: "InvalidRequest" });
      }
      expect(await codeOf(accounts.updateRobot("all", "robot$team-a+ci", { permissions: pull("*") }))).toBe("InvalidRequest");
      expect(await codeOf(accounts.addRobot({ name: "x", permissions: pull("nowhere"), project: "nowhere" }))).toBe("NotFound");
      // A system robot's name cannot take the project form.
      expect(await codeOf(accounts.addRobot({ name: "team-a+ci", permissions: pull("team-a") }))).toBe("InvalidRequest");
    });

    it("a project's scope reaches only its own robots, by short or full name", async () => {
      await accounts.addProject("team-a");
      await accounts.addProject("team-b");
      await accounts.addRobot({ name: "ci", permissions: pull("team-a"), project: "team-a" });
      await accounts.addRobot({ name: "ci", permissions: pull("team-b"), project: "team-b" });
      await accounts.addRobot({ name: "sys", permissions: pull("team-a") });
      const scopeA = { project: "team-a" };
      expect((await accounts.listRobots(scopeA)).map((r) => r.name)).toEqual(["robot$team-a+ci"]);
      expect(await accounts.updateRobot(scopeA, "ci", { description: "d" })).toMatchObject({ name: "robot$team-a+ci", description: "d" });
      expect(await accounts.updateRobot(scopeA, "robot$team-a+ci", { disabled: true })).toMatchObject({ disabled: true });
      for (const name of ["robot$team-b+ci", "robot$sys", "sys", "robot$team-a+nope", "a\u0000b"]) {
        expect({ name, code: await codeOf(accounts.updateRobot(scopeA, name, { disabled: true })) }).toEqual({ name, code: "NotFound" });
        expect({ name, code: await codeOf(accounts.refreshRobotSecret(scopeA, name)) }).toEqual({ name, code: "NotFound" });
        expect({ name, code: await codeOf(accounts.removeRobot(name, scopeA)) }).toEqual({ name, code: "NotFound" });
      }
      expect(store.robots.get("robot$team-b+ci")!.disabled).toBe(false);
      expect(await accounts.removeRobot("ci", scopeA)).toMatchObject({ name: "robot$team-a+ci", project: "team-a" });
      expect(store.robots.has("robot$team-a+ci")).toBe(false);
    });

    it("refreshes the secret (returned once, old hash replaced), edits expiry and refuses one in the past", async () => {
      const { secret } = await accounts.addRobot({ name: "ci", permissions: pull("a") });
      const refreshed = await accounts.refreshRobotSecret("all", "robot$ci");
      expect(refreshed.secret).not.toBe(secret);
      const row = store.robots.get("robot$ci")!;
      expect(await verifySecret(refreshed.secret, row.secretHash)).toBe(true);
      expect(await verifySecret(secret, row.secretHash)).toBe(false);
      const later = new Date(Date.now() + 3_600_000);
      expect(await accounts.updateRobot("all", "robot$ci", { expiresAt: later })).toMatchObject({ expiresAt: later });
      expect(await accounts.updateRobot("all", "robot$ci", { expiresAt: null })).toMatchObject({ expiresAt: null });
      const past = await accounts.updateRobot("all", "robot$ci", { expiresAt: new Date(Date.now() - 1000) }).catch((err: DomainError) => err);
      expect(past).toMatchObject({ code: "InvalidRequest", detail: "expiresAt: must be in the future" });
      expect(store.robots.get("robot$ci")!.expiresAt).toBeNull();
    });
  });

  describe("projects and members", () => {
    it("creates a project (owner becomes its admin), refuses bad names and duplicates", async () => {
      await accounts.addUser("owner", "owner-password");
      expect(await accounts.addProject("team-a", { public: true, owner: "owner" })).toMatchObject({ name: "team-a", public: true });
      expect(await accounts.roleOf("team-a", "owner")).toBe("admin");
      expect(await codeOf(accounts.addProject("team-a"))).toBe("Conflict");
      expect(await codeOf(accounts.addProject("a/b"))).toBe("InvalidRequest");
      expect(await codeOf(accounts.addProject("UPPER"))).toBe("InvalidRequest");
      expect(await codeOf(accounts.addProject("x", { owner: "ghost" }))).toBe("NotFound");
    });

    it("sets and lifts a project's storage quota, shown with its figures; unknown projects are NotFound", async () => {
      expect(await accounts.addProject("quota-a")).toMatchObject({ repositories: 0, usedBytes: 0, quotaBytes: null });
      expect(await accounts.setProjectQuota("quota-a", 1024)).toMatchObject({ name: "quota-a", quotaBytes: 1024 });
      expect((await accounts.listProjects()).find((p) => p.name === "quota-a")).toMatchObject({ quotaBytes: 1024 });
      expect(await accounts.setProjectQuota("quota-a", null)).toMatchObject({ quotaBytes: null });
      expect(await codeOf(accounts.setProjectQuota("ghost", 1))).toBe("NotFound");
    });

    it("sets members with known roles only", async () => {
      await accounts.addUser("dev", "dev-password");
      await accounts.addProject("p");
      await accounts.setMember("p", "dev", "developer");
      expect(await accounts.roleOf("p", "dev")).toBe("developer");
      expect(await codeOf(accounts.setMember("p", "dev", "owner"))).toBe("InvalidRequest");
      expect(await codeOf(accounts.setMember("p", "ghost", "guest"))).toBe("NotFound");
      expect(await codeOf(accounts.setMember("nope", "dev", "guest"))).toBe("NotFound");
    });
  });
});
