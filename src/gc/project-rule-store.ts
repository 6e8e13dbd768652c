// The retention and immutability rules stored per project (table project_rule). Specs are validated on the
// way in (src/gc/project-rules.ts) and again on the way out: a row that no longer parses is skipped, so one
// bad row can never stop pushes or collections.
import type { PrismaClient } from "../generated/prisma/client";
import { ImmutableSpecSchema, RetentionSpecSchema, type ImmutableSpec, type RetentionSpec } from "../config/gc";

export type RuleSpec = { kind: "retention"; spec: RetentionSpec } | { kind: "immutable"; spec: ImmutableSpec };

export type StoredRule = RuleSpec & {
  id: number;
  project: string;
  updatedBy: string;
  createdAt: Date;
  updatedAt: Date;
};

interface RuleRow {
  id: number;
  kind: string;
  spec: unknown;
  updatedBy: string;
  createdAt: Date;
  updatedAt: Date;
  project: { name: string };
}

const withProject = { project: { select: { name: true } } } as const;

export class ProjectRuleStore {
  constructor(private readonly prisma: PrismaClient) {}

  /** Every project's rules, oldest first (the cache of src/gc/live-rules.ts loads these). */
  async all(): Promise<StoredRule[]> {
    return parseRows(await this.prisma.projectRule.findMany({ include: withProject, orderBy: { id: "asc" } }));
  }

  async ofProject(project: string): Promise<StoredRule[]> {
    return parseRows(await this.prisma.projectRule.findMany({ where: { project: { name: project } }, include: withProject, orderBy: { id: "asc" } }));
  }

  /** Null when the project does not exist. */
  async create(project: string, rule: RuleSpec, actor: string): Promise<StoredRule | null> {
    const row = await this.prisma.project.findUnique({ where: { name: project }, select: { id: true } });
    if (!row) return null;
    const created = await this.prisma.projectRule.create({
      data: { projectId: row.id, kind: rule.kind, spec: rule.spec as object, updatedBy: actor },
      include: withProject,
    });
    return parseRow(created);
  }

  /** Replaces the spec of the project's rule `id` (same kind); null when there is no such rule. */
  async update(project: string, id: number, rule: RuleSpec, actor: string): Promise<StoredRule | null> {
    const where = { id, kind: rule.kind, project: { name: project } };
    const { count } = await this.prisma.projectRule.updateMany({ where, data: { spec: rule.spec as object, updatedBy: actor, updatedAt: new Date() } });
    if (!count) return null;
    return parseRow(await this.prisma.projectRule.findUniqueOrThrow({ where: { id }, include: withProject }));
  }

  /** The deleted rule, or null when the project has no rule `id`. */
  async delete(project: string, id: number): Promise<StoredRule | null> {
    const existing = await this.prisma.projectRule.findFirst({ where: { id, project: { name: project } }, include: withProject });
    if (!existing) return null;
    const { count } = await this.prisma.projectRule.deleteMany({ where: { id } });
    return count ? parseRow(existing) : null;
  }
}

function parseRows(rows: RuleRow[]): StoredRule[] {
  return rows.map(parseRow).filter((r): r is StoredRule => r !== null);
}

function parseRow(row: RuleRow): StoredRule | null {
  const base = { id: row.id, project: row.project.name, updatedBy: row.updatedBy, createdAt: row.createdAt, updatedAt: row.updatedAt };
  if (row.kind === "retention") {
    const spec = RetentionSpecSchema.safeParse(row.spec);
    return spec.success ? { ...base, kind: "retention", spec: spec.data } : null;
  }
  if (row.kind === "immutable") {
    const spec = ImmutableSpecSchema.safeParse(row.spec);
    return spec.success ? { ...base, kind: "immutable", spec: spec.data } : null;
  }
  return null;
}
