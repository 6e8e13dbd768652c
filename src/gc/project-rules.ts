// Managing the per-project rules: what the admin API and the web UI call. Authorisation is the caller's
// job (src/admin/rule-routes.ts); this checks the input, writes, and makes the change apply in this process
// at once (other replicas pick it up at their next reload).
import { DomainError } from "../kernel/errors";
import type { ImmutableTagRule, RetentionRule, RuleInput } from "../config/gc";
import type { LiveRules } from "./live-rules";
import type { RuleSpec, StoredRule, ValidatedRuleStore } from "./project-rule-store";
import type { RetentionDecision } from "./retention";
import { projectGlob } from "./rules";

export interface ProjectRulesView {
  project: string;
  /** The configuration's rules that apply to the project: read-only here. */
  configured: { retention: RetentionRule | null; immutableTags: ImmutableTagRule[] };
  stored: StoredRule[];
}

export interface ProjectRulesDeps {
  store: ValidatedRuleStore;
  rules: LiveRules;
  configured: { retention: readonly RetentionRule[]; immutableTags: readonly ImmutableTagRule[] };
  previewRetention: (project: string) => Promise<RetentionDecision[]>;
}

export class ProjectRules {
  constructor(private readonly deps: ProjectRulesDeps) {}

  async view(project: string): Promise<ProjectRulesView> {
    const applies = (rule: { project: string }) => projectGlob(rule.project).test(project);
    return {
      project,
      // Only the first matching configured retention rule applies (see RetentionRules).
      configured: { retention: this.deps.configured.retention.find(applies) ?? null, immutableTags: this.deps.configured.immutableTags.filter(applies) },
      stored: await this.deps.store.ofProject(project),
    };
  }

  async create(project: string, input: RuleInput, actor: string): Promise<StoredRule> {
    const rule = await this.deps.store.create(project, specOf(input), actor);
    if (!rule) throw new DomainError("NotFound", `project ${project} does not exist`);
    await this.deps.rules.refresh();
    return rule;
  }

  async update(project: string, id: number, input: RuleInput, actor: string): Promise<StoredRule> {
    const rule = await this.deps.store.update(project, id, specOf(input), actor);
    if (!rule) throw new DomainError("NotFound", `project ${project} has no ${input.kind} rule ${id}`);
    await this.deps.rules.refresh();
    return rule;
  }

  async remove(project: string, id: number): Promise<StoredRule> {
    const rule = await this.deps.store.delete(project, id);
    if (!rule) throw new DomainError("NotFound", `project ${project} has no rule ${id}`);
    await this.deps.rules.refresh();
    return rule;
  }

  /** The tags of the project's repositories that retention would delete now (what a GC dry run reports). */
  async preview(project: string): Promise<Array<{ repository: string; tag: string; digest: string; pushedAt: Date }>> {
    const decisions = await this.deps.previewRetention(project);
    return decisions.map((d) => ({ repository: d.repository, tag: d.tag, digest: d.digest, pushedAt: d.updatedAt }));
  }
}

function specOf(input: RuleInput): RuleSpec {
  if (input.kind === "retention") {
    const { kind, ...spec } = input;
    return { kind, spec };
  }
  const { kind, ...spec } = input;
  return { kind, spec };
}
