// The retention and immutability rules stored per project (src/metadata/project-rule-store.ts). Specs are
// validated on the way in (src/gc/project-rules.ts) and again on the way out. A row that no longer parses
// (e.g. a lookahead stored before patterns had to be linear-time) is reported by all(), never dropped
// quietly: a rule that vanished would unprotect tags or let retention delete what it was meant to keep.
import type { z } from "zod";
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

/** A stored rule whose spec no longer parses, and why. */
export interface RefusedRule {
  id: number;
  project: string;
  kind: string;
  problem: string;
}

/** The stored rules whose specs parse. */
export class ValidatedRuleStore {
  constructor(private readonly rows: ProjectRuleStore) {}

  /** Every project's rules, oldest first (the cache of src/gc/live-rules.ts loads these), and those refused. */
  async all(): Promise<{ rules: StoredRule[]; refused: RefusedRule[] }> {
    const rows = await this.rows.all();
    const rules: StoredRule[] = [];
    const refused: RefusedRule[] = [];
    for (const row of rows) {
      const parsed = parseSpec(row);
      if (parsed.success) rules.push(parsed.rule);
      else refused.push({ id: row.id, project: row.project, kind: row.kind, problem: parsed.problem });
    }
    return { rules, refused };
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
  const parsed = parseSpec(row);
  return parsed.success ? parsed.rule : null;
}

function parseSpec(row: ProjectRuleRow): { success: true; rule: StoredRule } | { success: false; problem: string } {
  const base = { id: row.id, project: row.project, updatedBy: row.updatedBy, createdAt: row.createdAt, updatedAt: row.updatedAt };
  if (row.kind === "retention") {
    const spec = RetentionSpecSchema.safeParse(row.spec);
    return spec.success ? { success: true, rule: { ...base, kind: "retention", spec: spec.data } } : { success: false, problem: issues(spec.error) };
  }
  if (row.kind === "immutable") {
    const spec = ImmutableSpecSchema.safeParse(row.spec);
    return spec.success ? { success: true, rule: { ...base, kind: "immutable", spec: spec.data } } : { success: false, problem: issues(spec.error) };
  }
  return { success: false, problem: `unknown kind ${JSON.stringify(row.kind)}` };
}

function issues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join(".") || "(spec)"}: ${i.message}`).join("; ");
}
