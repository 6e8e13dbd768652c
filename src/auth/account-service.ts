import { DomainError } from "../kernel/errors";
import { parseRepositoryName } from "../kernel/names";
import type { AccountStore, ProjectFigures, ProjectRow, RobotChanges, RobotRow, UserRow } from "../metadata/account-store";
import { textProblem } from "../kernel/text";
import { generateSecret, hashSecret } from "./passwords";
import { ROBOT_PREFIX, ROLES, type RobotPermission, type Role } from "./principal";

const ACCOUNT_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const MIN_PASSWORD = 8;

export interface UserView {
  username: string;
  isAdmin: boolean;
  disabled: boolean;
  createdAt: Date;
}

export interface RobotView {
  name: string;
  /** A project robot's project (its admins manage it); null for a system robot (site admins only). */
  project: string | null;
  description: string;
  permissions: RobotPermission[];
  expiresAt: Date | null;
  disabled: boolean;
  createdAt: Date;
}

/** Whose robots a caller manages: every robot (site admins), or one project's (its admins). */
export type RobotScope = { project: string } | "all";

/** What an admin may change on a robot; a null expiry means it never expires. */
export interface RobotEdit {
  description?: string;
  permissions?: RobotPermission[];
  expiresAt?: Date | null;
  disabled?: boolean;
}

export interface ProjectView extends ProjectFigures {
  name: string;
  public: boolean;
  createdAt: Date;
}

/** Users, robot accounts, projects and memberships: the rules, for the CLI and the admin API alike. */
export class AccountService {
  constructor(
    private readonly accounts: AccountStore,
    /** Whether a project created without a visibility is public (the Settings page's default visibility). */
    private readonly defaultPublic: () => boolean = () => false,
  ) {}

  async listUsers(): Promise<UserView[]> {
    return (await this.accounts.listUsers()).map(userView);
  }

  async addUser(username: string, password: string, isAdmin = false): Promise<UserView> {
    if (!ACCOUNT_NAME.test(username)) throw invalid(`username must match ${ACCOUNT_NAME.source}`);
    checkPassword(password);
    if (await this.accounts.findUser(username)) throw new DomainError("Conflict", `user ${username} exists`);
    return userView(await this.accounts.createUser({ username, passwordHash: await hashSecret(password), isAdmin }));
  }

  async updateUser(username: string, changes: { password?: string; isAdmin?: boolean; disabled?: boolean }): Promise<UserView> {
    if (changes.password !== undefined) checkPassword(changes.password);
    const row = await this.accounts.updateUser(username, {
      ...(changes.password !== undefined ? { passwordHash: await hashSecret(changes.password) } : {}),
      ...(changes.isAdmin !== undefined ? { isAdmin: changes.isAdmin } : {}),
      ...(changes.disabled !== undefined ? { disabled: changes.disabled } : {}),
    });
    if (!row) throw notFound("user", username);
    return userView(row);
  }

  async removeUser(username: string): Promise<void> {
    if (!(await this.accounts.deleteUser(username))) throw notFound("user", username);
  }

  /**
   * Creates the first admin when there are no users at all. Returns the password when it was generated
   * (to be shown once), null when given, or undefined when nothing was done.
   */
  async bootstrapAdmin(password: string | undefined): Promise<string | null | undefined> {
    if ((await this.accounts.countUsers()) > 0) return undefined;
    const chosen = password ?? generateSecret(18);
    try {
      await this.addUser("admin", chosen, true);
    } catch (err) {
      // Another replica bootstrapped at the same moment.
      if (err instanceof DomainError && err.code === "Conflict") return undefined;
      if (isUniqueViolation(err)) return undefined;
      throw err;
    }
    return password === undefined ? chosen : null;
  }

  /** Every robot (scope "all"), or the robots of one project. */
  async listRobots(scope: RobotScope = "all"): Promise<RobotView[]> {
    const rows = scope === "all" ? await this.accounts.listRobots() : await this.accounts.listRobots((await this.requireProject(scope.project)).id);
    return rows.map(robotView);
  }

  /**
   * Creates a robot; the secret is returned here once and only its hash is kept. With `project`, a project
   * robot named robot$<project>+<name> whose permissions stay within that project; else a system robot.
   */
  async addRobot(input: { name: string; permissions: RobotPermission[]; description?: string; expiresAt?: Date | null; project?: string }): Promise<{ robot: RobotView; secret: string }> {
    const project = input.project === undefined ? null : await this.requireProject(input.project);
    const prefix = project ? projectRobotPrefix(project.name) : ROBOT_PREFIX;
    const bare = input.name.startsWith(prefix) ? input.name.slice(prefix.length) : input.name;
    if (!ACCOUNT_NAME.test(bare)) throw invalid(`robot name must match ${ACCOUNT_NAME.source}`);
    const permissions = await this.bindToProjects(checkPermissions(input.permissions, project?.name ?? null));
    checkExpiry(input.expiresAt);
    const name = `${prefix}${bare}`;
    if (await this.accounts.findRobot(name)) throw new DomainError("Conflict", `robot ${name} exists`);
    const secret = generateSecret();
    const row = await this.accounts
      .createRobot({
        name,
        secretHash: await hashSecret(secret),
        description: input.description ?? "",
        permissions,
        expiresAt: input.expiresAt ?? null,
        projectId: project?.id ?? null,
      })
      .catch((err: unknown) => {
        // Created under the same name at the same moment (another request or replica): the look-up above missed it.
        if (isUniqueViolation(err)) throw new DomainError("Conflict", `robot ${name} exists`);
        throw err;
      });
    return { robot: robotView(row), secret };
  }

  /**
   * Changes a robot's description, permissions, expiry or (dis)abling. Disabling, and any change of
   * permissions or expiry, ends its tokens on every replica (the database moves its credential generation on).
   */
  async updateRobot(scope: RobotScope, name: string, edit: RobotEdit): Promise<RobotView> {
    const robot = await this.robotIn(scope, name);
    const changes: RobotChanges = {};
    if (edit.description !== undefined) changes.description = edit.description;
    if (edit.permissions !== undefined) changes.permissions = await this.bindToProjects(checkPermissions(edit.permissions, robot.project));
    if (edit.expiresAt !== undefined) changes.expiresAt = checkExpiry(edit.expiresAt);
    if (edit.disabled !== undefined) changes.disabled = edit.disabled;
    return robotView(this.found(await this.accounts.updateRobot(robot.id, changes), robot.name));
  }

  /** Ties each permission naming an existing project to that project's id (see RobotPermission.projectId). */
  private async bindToProjects(permissions: RobotPermission[]): Promise<RobotPermission[]> {
    return Promise.all(
      permissions.map(async (p) => {
        const project = p.project === "*" ? null : await this.accounts.findProject(p.project);
        return project ? { ...p, projectId: project.id } : p;
      }),
    );
  }

  /** A new secret, returned once; the old one stops working at once, here and on every replica. */
  async refreshRobotSecret(scope: RobotScope, name: string): Promise<{ robot: RobotView; secret: string }> {
    const robot = await this.robotIn(scope, name);
    const secret = generateSecret();
    const row = this.found(await this.accounts.updateRobot(robot.id, { secretHash: await hashSecret(secret) }), robot.name);
    return { robot: robotView(row), secret };
  }

  /** Deletes a robot; returns it as it was. */
  async removeRobot(name: string, scope: RobotScope = "all"): Promise<RobotView> {
    const robot = await this.robotIn(scope, name);
    return robotView(this.found((await this.accounts.deleteRobot(robot.id)) ? robot : null, robot.name));
  }

  /**
   * The robot a caller in `scope` may manage. A project's admins name their robots by the full name or the
   * part after robot$<project>+; a robot of another project, or a system robot, is "not found" to them, so
   * they learn nothing about robots that are not theirs.
   */
  private async robotIn(scope: RobotScope, name: string): Promise<RobotRow> {
    const full = scope !== "all" && !name.startsWith(ROBOT_PREFIX) ? `${projectRobotPrefix(scope.project)}${name}` : name;
    const robot = textProblem(full) ? null : await this.accounts.findRobot(full);
    if (!robot || (scope !== "all" && robot.project !== scope.project)) throw notFound("robot", full.slice(0, 200));
    return robot;
  }

  private found(row: RobotRow | null, name: string): RobotRow {
    // Deleted between the look-up and the change, by another admin or replica.
    if (!row) throw notFound("robot", name);
    return row;
  }

  async listProjects(): Promise<ProjectView[]> {
    return this.withFigures(await this.accounts.listProjects());
  }

  /** The projects with their repository counts, usage and quotas (one query for all), in the order given. */
  private async withFigures(rows: ProjectRow[]): Promise<ProjectView[]> {
    const figures = await this.accounts.projectFigures(rows.map((p) => p.id));
    return rows.map((p) => projectView(p, figures.get(p.id)));
  }

  async addProject(name: string, options: { public?: boolean; owner?: string } = {}): Promise<ProjectView> {
    checkProjectName(name);
    const owner = options.owner ? await this.requireUser(options.owner) : null;
    // An implicit project (made by a write under the name) is adopted: an administrator asked for this one.
    const { project, created } = await this.accounts.ensureProject(name, owner?.id ?? null, options.public ?? this.defaultPublic(), true);
    if (!created) throw new DomainError("Conflict", `project ${name} exists`);
    return this.viewOf(project);
  }

  async updateProject(name: string, changes: { public?: boolean }): Promise<ProjectView> {
    const row = await this.accounts.updateProject(name, changes);
    if (!row) throw notFound("project", name);
    return this.viewOf(row);
  }

  /** Sets the project's storage quota in bytes; null makes it unlimited. */
  async setProjectQuota(name: string, quotaBytes: number | null): Promise<ProjectView> {
    if (!(await this.accounts.setProjectQuota(name, quotaBytes))) throw notFound("project", name);
    return this.viewOf(await this.requireProject(name));
  }

  private async viewOf(row: ProjectRow): Promise<ProjectView> {
    return (await this.withFigures([row]))[0];
  }

  /**
   * Deletes a project. One that holds repositories is refused (409, naming how many) unless `force`, which
   * deletes them with it. Returns how many repositories went.
   */
  async removeProject(name: string, options: { force?: boolean } = {}): Promise<{ repositories: number }> {
    checkProjectName(name);
    const result = await this.accounts.deleteProject(name, { force: options.force === true });
    if (!result) throw notFound("project", name);
    if (!result.deleted) {
      const count = `${result.repositories} ${result.repositories === 1 ? "repository" : "repositories"}`;
      throw new DomainError("Conflict", { project: name, repositories: result.repositories }, {
        summary: `project ${name} holds ${count}; deleting it deletes them too, so it must be forced`,
      });
    }
    return { repositories: result.repositories };
  }

  async members(project: string): Promise<Array<{ username: string; role: Role }>> {
    return this.accounts.listMembers((await this.requireProject(project)).id);
  }

  async setMember(project: string, username: string, role: string): Promise<void> {
    if (!(ROLES as readonly string[]).includes(role)) throw invalid(`role must be one of ${ROLES.join(", ")}`);
    const [p, u] = await Promise.all([this.requireProject(project), this.requireUser(username)]);
    await this.accounts.setMember(p.id, u.id, role as Role);
  }

  async removeMember(project: string, username: string): Promise<void> {
    const [p, u] = await Promise.all([this.requireProject(project), this.requireUser(username)]);
    if (!(await this.accounts.removeMember(p.id, u.id))) throw notFound("member", username);
  }

  /** The projects a user holds a role in; a site admin holds the admin role in every project. */
  async projectsOf(username: string): Promise<Array<ProjectView & { role: Role }>> {
    const user = await this.requireUser(username);
    if (user.isAdmin) return (await this.listProjects()).map((p) => ({ ...p, role: "admin" as const }));
    const memberships = await this.accounts.listMemberships(user.id);
    const views = await this.withFigures(memberships.map((m) => m.project));
    return views.map((view, i) => ({ ...view, role: memberships[i].role }));
  }

  /** The role a user holds in a project (admins count as project admins everywhere). */
  async roleOf(project: string, username: string): Promise<Role | null> {
    const [p, u] = await Promise.all([this.accounts.findProject(project), this.accounts.findUser(username)]);
    if (!p || !u) return null;
    if (u.isAdmin) return "admin";
    return this.accounts.findRole(p.id, u.id);
  }

  private async requireUser(username: string): Promise<UserRow> {
    const user = await this.accounts.findUser(username);
    if (!user) throw notFound("user", username);
    return user;
  }

  private async requireProject(name: string): Promise<ProjectRow> {
    const project = await this.accounts.findProject(name);
    if (!project) throw notFound("project", name);
    return project;
  }
}

function checkPassword(password: string): void {
  if (password.length < MIN_PASSWORD) throw invalid(`password must be at least ${MIN_PASSWORD} characters`);
}

function checkProjectName(name: string): void {
  if (name.includes("/")) throw invalid("a project name is one path segment");
  try {
    parseRepositoryName(name);
  } catch {
    throw invalid(`invalid project name: ${name.slice(0, 100)}`);
  }
}

/** A project robot's name starts with this; "+" is in no account or project name, so it is unambiguous. */
export function projectRobotPrefix(project: string): string {
  return `${ROBOT_PREFIX}${project}+`;
}

/** A robot's permissions, checked; a project robot's must all name its own project. */
function checkPermissions(requested: RobotPermission[], project: string | null): RobotPermission[] {
  const permissions = requested.map(checkPermission);
  if (!permissions.length) throw invalid("a robot needs at least one permission");
  const outside = project === null ? undefined : permissions.find((p) => p.project !== project);
  if (outside) throw invalid(`a robot of project ${project} may only be given rights on ${project}, not on ${outside.project.slice(0, 100)}`);
  return permissions;
}

/** A robot born (or set) expired would be a credential nobody can use, and hides a typo in the date. */
function checkExpiry(expiresAt: Date | null | undefined): Date | null {
  if (expiresAt && !(expiresAt.getTime() > Date.now())) throw invalid("expiresAt: must be in the future");
  return expiresAt ?? null;
}

function checkPermission(p: RobotPermission): RobotPermission {
  if (typeof p?.project !== "string") throw invalid("permission needs a project");
  if (p.project !== "*") checkProjectName(p.project);
  const actions = Array.isArray(p.actions) ? p.actions : [];
  if (!actions.length || !actions.every((a) => a === "pull" || a === "push" || a === "delete")) {
    throw invalid("permission actions must be pull, push and/or delete");
  }
  return { project: p.project, actions: [...new Set(actions)] };
}

function invalid(detail: string): DomainError {
  return new DomainError("InvalidRequest", detail);
}

function notFound(kind: string, name: string): DomainError {
  return new DomainError("NotFound", `${kind} ${name} does not exist`);
}

function isUniqueViolation(err: unknown): boolean {
  return typeof err === "object" && err !== null && ((err as { code?: string }).code === "P2002" || /unique/i.test(String((err as Error).message)));
}

const userView = (u: UserRow): UserView => ({ username: u.username, isAdmin: u.isAdmin, disabled: u.disabled, createdAt: u.createdAt });
const robotView = (r: RobotRow): RobotView => ({
  name: r.name,
  project: r.project,
  description: r.description,
  permissions: r.permissions.map(({ project, actions }) => ({ project, actions })),
  expiresAt: r.expiresAt,
  disabled: r.disabled,
  createdAt: r.createdAt,
});
const NO_FIGURES: ProjectFigures = { repositories: 0, usedBytes: 0, quotaBytes: null };

const projectView = (p: ProjectRow, figures: ProjectFigures = NO_FIGURES): ProjectView => ({
  name: p.name,
  public: p.public,
  createdAt: p.createdAt,
  repositories: figures.repositories,
  usedBytes: figures.usedBytes,
  quotaBytes: figures.quotaBytes,
});
