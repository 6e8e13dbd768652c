import type { Prisma, PrismaClient } from "../generated/prisma/client";
import { DomainError } from "../kernel/errors";
import type { RobotPermission, Role } from "../kernel/accounts";

export interface UserRow {
  id: number;
  username: string;
  passwordHash: string;
  isAdmin: boolean;
  disabled: boolean;
  createdAt: Date;
  credentialGeneration: number;
}

export interface RobotRow {
  id: number;
  name: string;
  secretHash: string;
  description: string;
  permissions: RobotPermission[];
  expiresAt: Date | null;
  disabled: boolean;
  createdAt: Date;
  credentialGeneration: number;
  /** A project robot's project; null for a system robot. */
  projectId: number | null;
  /** That project's name. */
  project: string | null;
}

/** What may change on a robot after it is made (its name and project never do). */
export type RobotChanges = Partial<Pick<RobotRow, "secretHash" | "description" | "permissions" | "expiresAt" | "disabled">>;

/** An account by id: ids are never handed out twice, names are (delete dave, create dave). */
export interface AccountRef {
  kind: "user" | "robot";
  id: number;
}

/** What decides whether an account's credentials still count. */
export interface CredentialState {
  generation: number;
  disabled: boolean;
  expiresAt: Date | null;
}

export interface ProjectRow {
  id: number;
  name: string;
  public: boolean;
  ownerId: number | null;
  createdAt: Date;
  /** Created by a write under the name, not by anyone asking (see the schema). */
  implicit: boolean;
}

export interface ProjectDeletion {
  deleted: boolean;
  /** The repositories the project held (deleted with it, or the reason it was not). */
  repositories: number;
}

export interface MemberRow {
  username: string;
  role: Role;
}

export interface ProjectFigures {
  repositories: number;
  /** Each digest the project's repositories hold, counted once (migration 20261205150200_project_quotas). */
  usedBytes: number;
  /** Null: unlimited. */
  quotaBytes: number | null;
}

/** Accounts, projects and memberships. No rules here: those live in AccountService and AccessPolicy. */
export interface AccountStore {
  findUser(username: string): Promise<UserRow | null>;
  findRobot(name: string): Promise<RobotRow | null>;
  findUserById(id: number): Promise<UserRow | null>;
  findRobotById(id: number): Promise<RobotRow | null>;
  /** Null when the account does not exist (any more). */
  credentialState(account: AccountRef): Promise<CredentialState | null>;
  findProject(name: string): Promise<ProjectRow | null>;
  findRole(projectId: number, userId: number): Promise<Role | null>;
  /** Ids of the projects a user is a member of, whatever the role. */
  memberProjectIds(userId: number): Promise<number[]>;
  projectIdsByName(names: string[]): Promise<number[]>;
  countUsers(): Promise<number>;
  listUsers(): Promise<UserRow[]>;
  createUser(data: { username: string; passwordHash: string; isAdmin: boolean }): Promise<UserRow>;
  updateUser(username: string, data: Partial<Pick<UserRow, "passwordHash" | "isAdmin" | "disabled">>): Promise<UserRow | null>;
  deleteUser(username: string): Promise<boolean>;
  /** Every robot, or a project's robots (by project id), or the system robots (null). */
  listRobots(projectId?: number | null): Promise<RobotRow[]>;
  createRobot(data: { name: string; secretHash: string; description: string; permissions: RobotPermission[]; expiresAt: Date | null; projectId: number | null }): Promise<RobotRow>;
  /** Null when the robot is gone. By id: a robot deleted and made again under its name is another robot. */
  updateRobot(id: number, data: RobotChanges): Promise<RobotRow | null>;
  deleteRobot(id: number): Promise<boolean>;
  listProjects(): Promise<ProjectRow[]>;
  /**
   * Creates the project (owner becomes its admin member) unless it exists; returns it either way. With
   * `adopt`, an implicit project counts as missing: it becomes a real one, with this owner and visibility.
   */
  ensureProject(name: string, ownerId: number | null, isPublic?: boolean, adopt?: boolean): Promise<{ project: ProjectRow; created: boolean }>;
  updateProject(name: string, data: { public?: boolean }): Promise<ProjectRow | null>;
  /** Sets (or lifts, with null) the project's storage quota. False when there is no such project. */
  setProjectQuota(name: string, quotaBytes: number | null): Promise<boolean>;
  /** Repository count, storage used and quota of each project asked for, by id. */
  projectFigures(projectIds: number[]): Promise<Map<number, ProjectFigures>>;
  /**
   * Deletes the project unless it holds repositories and `force` is false; with `force`, its repositories
   * (manifests, tags, blob links, uploads) go with it. Null when there is no such project.
   */
  deleteProject(name: string, options: { force: boolean }): Promise<ProjectDeletion | null>;
  listMembers(projectId: number): Promise<MemberRow[]>;
  /** The projects a user is a member of, with the role held in each, by name. */
  listMemberships(userId: number): Promise<Array<{ project: ProjectRow; role: Role }>>;
  setMember(projectId: number, userId: number, role: Role): Promise<void>;
  removeMember(projectId: number, userId: number): Promise<boolean>;
}

/** AccountStore on Prisma: admin-side CRUD (see docs/data-access.md). */
export class PrismaAccountStore implements AccountStore {
  constructor(
    private readonly prisma: PrismaClient,
    /** The quota a project created here starts with (projects.defaultQuota); null: unlimited. */
    private readonly options: { defaultQuotaBytes: number | null } = { defaultQuotaBytes: null },
  ) {}

  findUser(username: string): Promise<UserRow | null> {
    return this.prisma.user.findUnique({ where: { username } });
  }

  async findRobot(name: string): Promise<RobotRow | null> {
    return robotRow(await this.prisma.robot.findUnique({ where: { name }, include: WITH_PROJECT }));
  }

  findUserById(id: number): Promise<UserRow | null> {
    return this.prisma.user.findUnique({ where: { id } });
  }

  async findRobotById(id: number): Promise<RobotRow | null> {
    return robotRow(await this.prisma.robot.findUnique({ where: { id }, include: WITH_PROJECT }));
  }

  async credentialState(account: AccountRef): Promise<CredentialState | null> {
    if (account.kind === "user") {
      const user = await this.prisma.user.findUnique({ where: { id: account.id }, select: { credentialGeneration: true, disabled: true } });
      return user ? { generation: user.credentialGeneration, disabled: user.disabled, expiresAt: null } : null;
    }
    const robot = await this.prisma.robot.findUnique({ where: { id: account.id }, select: { credentialGeneration: true, disabled: true, expiresAt: true } });
    return robot ? { generation: robot.credentialGeneration, disabled: robot.disabled, expiresAt: robot.expiresAt } : null;
  }

  findProject(name: string): Promise<ProjectRow | null> {
    return this.prisma.project.findUnique({ where: { name } });
  }

  async findRole(projectId: number, userId: number): Promise<Role | null> {
    const row = await this.prisma.projectMember.findUnique({ where: { projectId_userId: { projectId, userId } }, select: { role: true } });
    return (row?.role as Role | undefined) ?? null;
  }

  async memberProjectIds(userId: number): Promise<number[]> {
    const rows = await this.prisma.projectMember.findMany({ where: { userId }, select: { projectId: true } });
    return rows.map((r) => r.projectId);
  }

  async projectIdsByName(names: string[]): Promise<number[]> {
    if (!names.length) return [];
    const rows = await this.prisma.project.findMany({ where: { name: { in: names } }, select: { id: true } });
    return rows.map((r) => r.id);
  }

  countUsers(): Promise<number> {
    return this.prisma.user.count();
  }

  listUsers(): Promise<UserRow[]> {
    return this.prisma.user.findMany({ orderBy: { username: "asc" } });
  }

  createUser(data: { username: string; passwordHash: string; isAdmin: boolean }): Promise<UserRow> {
    return this.prisma.user.create({ data });
  }

  async updateUser(username: string, data: Partial<Pick<UserRow, "passwordHash" | "isAdmin" | "disabled">>): Promise<UserRow | null> {
    const demotes = data.isAdmin === false || data.disabled === true;
    const count = await this.keepingAnAdmin(demotes ? username : null, "demote", (tx) =>
      tx.user.updateMany({ where: { username }, data: { ...data, updatedAt: new Date() } }).then((r) => r.count),
    );
    return count ? this.findUser(username) : null;
  }

  async deleteUser(username: string): Promise<boolean> {
    return (await this.keepingAnAdmin(username, "delete", (tx) => tx.user.deleteMany({ where: { username } }).then((r) => r.count))) > 0;
  }

  /**
   * Runs `change` unless it takes away `losing`'s standing as the last enabled admin (nobody could then
   * administer the registry). The enabled admins' rows stay locked until the change commits, so two admins
   * demoting each other at once cannot both succeed.
   */
  private async keepingAnAdmin<T>(losing: string | null, verb: string, change: (tx: Prisma.TransactionClient) => Promise<T>): Promise<T> {
    if (losing === null) return change(this.prisma);
    return this.prisma.$transaction(async (tx) => {
      const admins = await tx.$queryRaw<Array<{ username: string }>>`
        SELECT username FROM user_account WHERE is_admin AND NOT disabled ORDER BY id FOR UPDATE`;
      if (admins.length === 1 && admins[0].username === losing) {
        throw new DomainError("Conflict", `${losing} is the last enabled admin; make another user admin before you ${verb === "delete" ? "delete" : "demote or disable"} ${losing}`);
      }
      return change(tx);
    });
  }

  async listRobots(projectId?: number | null): Promise<RobotRow[]> {
    const rows = await this.prisma.robot.findMany({ where: projectId === undefined ? {} : { projectId }, include: WITH_PROJECT, orderBy: { name: "asc" } });
    return rows.map((row) => robotRow(row)!);
  }

  async createRobot(data: { name: string; secretHash: string; description: string; permissions: RobotPermission[]; expiresAt: Date | null; projectId: number | null }): Promise<RobotRow> {
    return robotRow(await this.prisma.robot.create({ data: { ...data, permissions: data.permissions as never }, include: WITH_PROJECT }))!;
  }

  async updateRobot(id: number, data: RobotChanges): Promise<RobotRow | null> {
    const { permissions, ...rest } = data;
    const result = await this.prisma.robot.updateMany({ where: { id }, data: { ...rest, ...(permissions ? { permissions: permissions as never } : {}) } });
    return result.count ? this.findRobotById(id) : null;
  }

  async deleteRobot(id: number): Promise<boolean> {
    return (await this.prisma.robot.deleteMany({ where: { id } })).count > 0;
  }

  listProjects(): Promise<ProjectRow[]> {
    return this.prisma.project.findMany({ orderBy: { name: "asc" } });
  }

  async ensureProject(name: string, ownerId: number | null, isPublic = false, adopt = false): Promise<{ project: ProjectRow; created: boolean }> {
    return this.prisma.$transaction(async (tx) => {
      const inserted = await tx.$queryRaw<ProjectRow[]>`
        INSERT INTO project (name, public, owner_id) VALUES (${name}, ${isPublic}, ${ownerId})
        ON CONFLICT (name) DO UPDATE SET implicit = false, public = EXCLUDED.public, owner_id = EXCLUDED.owner_id
          WHERE project.implicit AND ${adopt}
        RETURNING id, name, public, owner_id AS "ownerId", created_at AS "createdAt", implicit`;
      if (inserted.length) {
        const quota = this.options.defaultQuotaBytes;
        if (quota !== null) {
          // The usage row comes with the project (a trigger); an adopted implicit project keeps a quota it was given.
          await tx.$executeRaw`UPDATE project_usage SET quota_bytes = ${BigInt(quota)}::bigint WHERE project_id = ${inserted[0].id} AND quota_bytes IS NULL`;
        }
        if (ownerId !== null) {
          // Upsert: an adopted implicit project may already count the owner among its members.
          const key = { projectId: inserted[0].id, userId: ownerId };
          await tx.projectMember.upsert({ where: { projectId_userId: key }, create: { ...key, role: "admin" }, update: { role: "admin" } });
        }
        return { project: inserted[0], created: true };
      }
      const project = await tx.project.findUniqueOrThrow({ where: { name } });
      return { project, created: false };
    });
  }

  async updateProject(name: string, data: { public?: boolean }): Promise<ProjectRow | null> {
    // With nothing to change Prisma sends a SELECT, whose count the PGlite adapter reports as 0 rows: the
    // project would seem not to exist. Nothing to change is answered by looking the project up.
    if (Object.values(data).every((v) => v === undefined)) return this.findProject(name);
    const result = await this.prisma.project.updateMany({ where: { name }, data });
    return result.count ? this.findProject(name) : null;
  }

  async setProjectQuota(name: string, quotaBytes: number | null): Promise<boolean> {
    // Lowering a quota below the usage is allowed: nothing is deleted, and pushes are refused until room is made.
    const updated = await this.prisma.$executeRaw`
      UPDATE project_usage u SET quota_bytes = ${quotaBytes === null ? null : BigInt(quotaBytes)}::bigint
        FROM project p WHERE p.id = u.project_id AND p.name = ${name}`;
    return updated > 0;
  }

  async projectFigures(projectIds: number[]): Promise<Map<number, ProjectFigures>> {
    if (!projectIds.length) return new Map();
    // The usage of a project without a quota is its row plus the changes not folded in yet.
    const rows = await this.prisma.$queryRaw<Array<{ id: number; repositories: number; used: bigint; quota: bigint | null }>>`
      SELECT p.id,
             (SELECT count(*)::int FROM repository r WHERE r.project_id = p.id) AS repositories,
             COALESCE(u.used_bytes, 0) + COALESCE((SELECT sum(d.size_bytes) FROM project_usage_delta d WHERE d.project_id = p.id), 0)::bigint AS used,
             u.quota_bytes AS quota
        FROM project p LEFT JOIN project_usage u ON u.project_id = p.id
       WHERE p.id = ANY(${projectIds}::int[])`;
    return new Map(
      rows.map((r) => [r.id, { repositories: r.repositories, usedBytes: Math.max(Number(r.used), 0), quotaBytes: r.quota === null ? null : Number(r.quota) }]),
    );
  }

  async deleteProject(name: string, options: { force: boolean }): Promise<ProjectDeletion | null> {
    return this.prisma.$transaction(async (tx) => {
      // FOR UPDATE waits for pushes creating a repository in the project (they hold the row FOR KEY SHARE
      // until they commit, see berth_project_id) and keeps new ones out until this ends: the count is exact
      // and the cascade takes every repository, the racing ones included.
      const [locked] = await tx.$queryRaw<Array<{ id: number }>>`SELECT id FROM project WHERE name = ${name} FOR UPDATE`;
      if (!locked) return null;
      const repositories = await tx.repository.count({ where: { projectId: locked.id } });
      if (repositories > 0 && !options.force) return { deleted: false, repositories };
      // Upload sessions before their repositories: finishing an upload locks its session, then its
      // repository (the blob link's key), and the cascade would take them the other way round (a deadlock).
      await tx.$queryRaw`SELECT u.id FROM upload u JOIN repository r ON r.id = u.repository_id WHERE r.project_id = ${locked.id} FOR UPDATE OF u`;
      // Then the repositories, before the cascade reaches the project's usage rows (project_blob): a push holds
      // its repository FOR KEY SHARE and then writes those rows, so taking them first would deadlock with it.
      await tx.$queryRaw`SELECT id FROM repository WHERE project_id = ${locked.id} FOR UPDATE`;
      await tx.project.delete({ where: { id: locked.id } });
      // Robot permissions name projects (members and rules go by the cascade): the project's go with it, and a
      // robot left with none is disabled, its tokens with it, as Harbor deletes a project's robots.
      await tx.$executeRaw`
        UPDATE robot SET permissions = COALESCE(
          (SELECT jsonb_agg(p) FROM jsonb_array_elements(permissions) p WHERE p->>'project' <> ${name}), '[]'::jsonb)
        WHERE permissions @> jsonb_build_array(jsonb_build_object('project', ${name}::text))`;
      await tx.$executeRaw`
        UPDATE robot SET disabled = true, credential_generation = credential_generation + 1
        WHERE permissions = '[]'::jsonb AND NOT disabled`;
      return { deleted: true, repositories };
    }, { timeout: 10 * 60_000 }); // a large project's cascade takes a while
  }

  async listMembers(projectId: number): Promise<MemberRow[]> {
    const rows = await this.prisma.projectMember.findMany({
      where: { projectId },
      include: { user: { select: { username: true } } },
      orderBy: { user: { username: "asc" } },
    });
    return rows.map((r) => ({ username: r.user.username, role: r.role as Role }));
  }

  async listMemberships(userId: number): Promise<Array<{ project: ProjectRow; role: Role }>> {
    const rows = await this.prisma.projectMember.findMany({ where: { userId }, include: { project: true }, orderBy: { project: { name: "asc" } } });
    return rows.map((r) => ({ project: r.project, role: r.role as Role }));
  }

  async setMember(projectId: number, userId: number, role: Role): Promise<void> {
    await this.prisma.projectMember.upsert({
      where: { projectId_userId: { projectId, userId } },
      create: { projectId, userId, role },
      update: { role },
    });
  }

  async removeMember(projectId: number, userId: number): Promise<boolean> {
    return (await this.prisma.projectMember.deleteMany({ where: { projectId, userId } })).count > 0;
  }
}

const WITH_PROJECT = { project: { select: { name: true } } } as const;

function robotRow<T extends { permissions: unknown; project: { name: string } | null }>(row: T | null): RobotRow | null {
  if (!row) return null;
  const { project, permissions, ...rest } = row;
  return { ...(rest as unknown as Omit<RobotRow, "permissions" | "project">), permissions: permissions as RobotPermission[], project: project?.name ?? null };
}
