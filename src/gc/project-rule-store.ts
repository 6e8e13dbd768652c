// The retention and immutability rules stored per project (src/metadata/project-rule-store.ts). Specs are
// validated on the way in (src/gc/project-rules.ts) and again on the way out: a row that no longer parses is
// skipped, so one bad row can never stop pushes or collections.
import type { ProjectRuleRow, ProjectRuleStore } from "../metadata/project-rule-store";
import { ImmutableSpecSchema, RetentionSpecSchema, type ImmutableSpec, type RetentionSpec } from "../config/gc";

export type RuleSpec = { kind: "retention"; spec: RetentionSpec } | { kind: "immutable"; spec: ImmutableSpec };

export type StoredRule = RuleSpec & {
  id: number;
  project: string;
  updatedBy: string;
  createdAt: Date;
  updatedAt: Date;
};

/** The stored rules whose specs parse. */
export class ValidatedRuleStore {
  constructor(private readonly rows: ProjectRuleStore) {}

  /** Every project's rules, oldest first (the cache of src/gc/live-rules.ts loads these). */
  async all(): Promise<StoredRule[]> {
    return parseRows(await this.rows.all());
  }

  async ofProject(project: string): Promise<StoredRule[]> {
    return parseRows(await this.rows.ofProject(project));
  }

  /** Null when the project does not exist. */
  async create(project: string, rule: RuleSpec, actor: string): Promise<StoredRule | null> {
    return parseRow(await this.rows.create(project, rule, actor));
  }

  /** Replaces the spec of the project's rule `id` (same kind); null when there is no such rule. */
  async update(project: string, id: number, rule: RuleSpec, actor: string): Promise<StoredRule | null> {
    return parseRow(await this.rows.update(project, id, rule, actor));
  }

  /** The deleted rule, or null when the project has no rule `id`. */
  async delete(project: string, id: number): Promise<StoredRule | null> {
    return parseRow(await this.rows.delete(project, id));
  }
}

function parseRows(rows: ProjectRuleRow[]): StoredRule[] {
  return rows.map(parseRow).filter((r): r is StoredRule => r !== null);
}

function parseRow(row: ProjectRuleRow | null): StoredRule | null {
  if (!row) return null;
  const base = { id: row.id, project: row.project, updatedBy: row.updatedBy, createdAt: row.createdAt, updatedAt: row.updatedAt };
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
