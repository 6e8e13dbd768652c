// The retention and immutability rules stored per project (table project_rule), as rows: the specs are
// JSON that src/gc validates on the way in and out.
import type { PrismaClient } from "../generated/prisma/client";

export interface ProjectRuleRow {
  id: number;
  project: string;
  kind: string;
  spec: unknown;
  updatedBy: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewProjectRule {
  kind: string;
  spec: object;
}

export interface ProjectRuleStore {
  /** Every project's rules, oldest first. */
  all(): Promise<ProjectRuleRow[]>;
  ofProject(project: string): Promise<ProjectRuleRow[]>;
  /** Null when the project does not exist. */
  create(project: string, rule: NewProjectRule, actor: string): Promise<ProjectRuleRow | null>;
  /** Replaces the spec of the project's rule `id` (same kind); null when there is no such rule. */
  update(project: string, id: number, rule: NewProjectRule, actor: string): Promise<ProjectRuleRow | null>;
  /** The deleted rule, or null when the project has no rule `id`. */
  delete(project: string, id: number): Promise<ProjectRuleRow | null>;
}

interface RuleRow extends Omit<ProjectRuleRow, "project"> {
  project: { name: string };
}

const withProject = { project: { select: { name: true } } } as const;

export class PrismaProjectRuleStore implements ProjectRuleStore {
  constructor(private readonly prisma: PrismaClient) {}

  async all(): Promise<ProjectRuleRow[]> {
    return (await this.prisma.projectRule.findMany({ include: withProject, orderBy: { id: "asc" } })).map(flat);
  }

  async ofProject(project: string): Promise<ProjectRuleRow[]> {
    return (await this.prisma.projectRule.findMany({ where: { project: { name: project } }, include: withProject, orderBy: { id: "asc" } })).map(flat);
  }

  async create(project: string, rule: NewProjectRule, actor: string): Promise<ProjectRuleRow | null> {
    const row = await this.prisma.project.findUnique({ where: { name: project }, select: { id: true } });
    if (!row) return null;
    const created = await this.prisma.projectRule.create({
      data: { projectId: row.id, kind: rule.kind, spec: rule.spec, updatedBy: actor },
      include: withProject,
    });
    return flat(created);
  }

  async update(project: string, id: number, rule: NewProjectRule, actor: string): Promise<ProjectRuleRow | null> {
    const where = { id, kind: rule.kind, project: { name: project } };
    const { count } = await this.prisma.projectRule.updateMany({ where, data: { spec: rule.spec, updatedBy: actor, updatedAt: new Date() } });
    if (!count) return null;
    return flat(await this.prisma.projectRule.findUniqueOrThrow({ where: { id }, include: withProject }));
  }

  async delete(project: string, id: number): Promise<ProjectRuleRow | null> {
    const existing = await this.prisma.projectRule.findFirst({ where: { id, project: { name: project } }, include: withProject });
    if (!existing) return null;
    const { count } = await this.prisma.projectRule.deleteMany({ where: { id } });
    return count ? flat(existing) : null;
  }
}

function flat(row: RuleRow): ProjectRuleRow {
  return { ...row, project: row.project.name };
}
