import type { AccountStore, ProjectRow } from "../metadata/account-store";
import type { Visibility } from "../metadata/web-queries";
import { projectOf, ROLE_ACTIONS, type Principal } from "./principal";
import { intersect, type Access } from "./scope";

export interface PolicyOptions {
  /** Who may create a project by pushing to it: every user, or admins only. Robots never may. Asked each time. */
  projectCreation: () => "everyone" | "admins";
  /** Whether a project created by a push is public. Asked each time. */
  defaultPublic: () => boolean;
  /** Mirror mode: names served from an upstream, which nobody may push to. */
  isMirrored?: (repository: string) => Promise<boolean>;
  /** Whether anonymous clients may pull mirrored names. */
  anonymousMirrorPull?: boolean;
}

/**
 * What a principal may do. Rights per repository come from its project (first path segment):
 * admins may do everything; members by role (guest pull; developer +push; maintainer and admin +delete);
 * robots by their per-project permissions; everybody, anonymous included, may pull from a public project.
 * A push to a project that does not exist is allowed to whoever may create projects; the project is
 * created (with the default visibility, owned by the pusher) on that principal's first authorised write — see ensureProject.
 */
export class AccessPolicy {
  private readonly knownProjects = new Map<string, number>();
  /** When each project was created (null: it does not exist), as seen within the last few seconds. */
  private readonly projectBirths = new Map<string, { createdAt: number | null; until: number }>();

  constructor(
    private readonly accounts: AccountStore,
    private readonly options: PolicyOptions,
  ) {}

  /** The requested access intersected with the principal's rights: never more than asked, never more than allowed. */
  async grant(principal: Principal, requested: readonly Access[]): Promise<Access[]> {
    const rights = new Map<string, readonly string[]>();
    for (const access of requested) rights.set(`${access.type}:${access.name}`, await this.actionsOn(principal, access, access.actions.includes("push")));
    return intersect(requested, (access) => rights.get(`${access.type}:${access.name}`) ?? []);
  }

  private async actionsOn(principal: Principal, access: Access, create: boolean): Promise<readonly string[]> {
    if (access.type === "registry") return isAdmin(principal) ? ["*"] : [];
    // Any account may hold an API token: each API route then checks what the account itself may do.
    if (access.type === "api") return principal.kind === "anonymous" ? [] : ["*"];
    return this.repositoryActions(principal, access.name, create);
  }

  /**
   * Rights on one repository. Rights are never granted on a project that does not exist: when `create`
   * (a push was asked for) and the principal may create projects, the project is created first (default
   * visibility) and owned by it — so a token obtained early cannot open a project someone else creates later.
   */
  async repositoryActions(principal: Principal, repository: string, create = false): Promise<readonly string[]> {
    if (this.options.isMirrored && (await this.options.isMirrored(repository))) {
      // Mirrored content is read-only: pulls for everyone allowed to, deletes (of the cache) for admins.
      if (isAdmin(principal)) return ["pull", "delete"];
      return principal.kind === "anonymous" && !this.options.anonymousMirrorPull ? [] : ["pull"];
    }
    if (isAdmin(principal)) return ["pull", "push", "delete"];
    let project = await this.accounts.findProject(projectOf(repository));
    if (!project) {
      if (!create || principal.kind !== "user" || !this.mayCreateProjects(principal)) return [];
      project = (await this.accounts.ensureProject(projectOf(repository), principal.id, this.options.defaultPublic())).project;
    }
    const actions = new Set<string>(project.public ? ["pull"] : []);
    for (const action of await this.memberActions(principal, project)) actions.add(action);
    return [...actions];
  }

  /**
   * Which repositories a principal may pull, as a filter a list query can apply in SQL (page by page,
   * never by checking names one at a time). It states repositoryActions' rules per project: everything
   * for admins; public projects for all; member projects (any role pulls) for users; projects a robot
   * may pull from. (Every repository has its project: none is listed for lack of one.)
   * Mirrored names (isMirrored) are the caller's to add: they depend on the mirror's routing.
   */
  async visibility(principal: Principal): Promise<Visibility> {
    if (isAdmin(principal)) return { all: true };
    let projectIds: number[] | "all" = [];
    if (principal.kind === "user") projectIds = await this.accounts.memberProjectIds(principal.id);
    if (principal.kind === "robot") {
      const pulls = principal.permissions.filter((p) => p.actions.includes("pull"));
      const bound = pulls.flatMap((p) => (p.projectId === undefined ? [] : [p.projectId]));
      const byName = pulls.filter((p) => p.projectId === undefined).map((p) => p.project);
      projectIds = pulls.some((p) => p.project === "*") ? "all" : [...bound, ...(await this.accounts.projectIdsByName(byName))];
    }
    return { all: false, projectIds };
  }

  /**
   * Called before a write: creates the repository's project, owned by the writer, if it is missing. Projects
   * seen to exist are remembered for a minute, so a push's many requests do not each ask the database.
   */
  async ensureProject(principal: () => Promise<Principal>, repository: string): Promise<void> {
    const name = projectOf(repository);
    const seen = this.knownProjects.get(name);
    if (seen && seen > Date.now()) return;
    const writer = await principal();
    if (writer.kind !== "user") return;
    await this.accounts.ensureProject(name, writer.id, this.options.defaultPublic());
    if (this.knownProjects.size > 10_000) this.knownProjects.clear();
    this.knownProjects.set(name, Date.now() + 60_000);
  }

  /**
   * Whether a token issued at `issuedAt` (seconds) was granted on the repository's current project: false
   * when the project was created since (deleted and created again under its name, maybe by someone else)
   * or does not exist, and the token's rights must be decided again. Creation times are remembered for a
   * few seconds, so a deletion on another replica takes that long to count here.
   */
  async tokenPredatesProject(repository: string, issuedAt: number): Promise<boolean> {
    const name = projectOf(repository);
    let birth = this.projectBirths.get(name);
    if (!birth || birth.until < Date.now()) {
      const project = await this.accounts.findProject(name);
      birth = { createdAt: project ? project.createdAt.getTime() : null, until: Date.now() + 5_000 };
      if (this.projectBirths.size > 10_000) this.projectBirths.clear();
      this.projectBirths.set(name, birth);
    }
    // iat has whole seconds: a project created within the token's second may be older or younger than the
    // token, so it is decided again (the first push into a new project pays that, for that token only).
    return birth.createdAt !== null && birth.createdAt < issuedAt * 1000;
  }

  /** After a project is deleted here, forget that it existed. */
  forgetProject(name: string): void {
    this.knownProjects.delete(name);
    this.projectBirths.delete(name);
  }

  private async memberActions(principal: Principal, project: ProjectRow): Promise<readonly string[]> {
    if (principal.kind === "user") {
      const role = await this.accounts.findRole(project.id, principal.id);
      return role ? ROLE_ACTIONS[role] : [];
    }
    if (principal.kind === "robot") {
      return principal.permissions.filter((p) => p.project === "*" || (p.project === project.name && (p.projectId ?? project.id) === project.id)).flatMap((p) => p.actions);
    }
    return [];
  }

  private mayCreateProjects(principal: Principal): boolean {
    return principal.kind === "user" && (principal.isAdmin || this.options.projectCreation() === "everyone");
  }
}

export type { Visibility };

function isAdmin(principal: Principal): boolean {
  return principal.kind === "user" && principal.isAdmin;
}

