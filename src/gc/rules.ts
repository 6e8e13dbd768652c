// Retention and tag-immutability rules: which project a repository belongs to, which rule applies, and
// which tags a retention rule deletes. Pure functions; the database work is in retention.ts.
import { projectOf, type RepositoryName } from "../kernel/names";
import type { TagImmutability } from "../registry/manifest-service";
import type { ImmutableTagRule, RetentionRule } from "../config/gc";

export { projectOf };

/** "team", "team-*", "*" → an anchored RegExp over project names. */
export function projectGlob(pattern: string): RegExp {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^(?:${source})$`);
}

function wholeTag(pattern: string): RegExp {
  return new RegExp(`^(?:${pattern})$`);
}

interface CompiledImmutable {
  project: RegExp;
  tags: RegExp[];
  describe: string;
}

/** Immutability rules (configured and stored alike: a tag is immutable when any rule says so). */
export class ImmutableTags implements TagImmutability {
  private readonly rules: CompiledImmutable[];

  constructor(rules: readonly ImmutableTagRule[]) {
    this.rules = rules.map((r) => ({
      project: projectGlob(r.project),
      tags: r.tags.map(wholeTag),
      describe: `immutable-tag rule for project ${r.project}: ${r.tags.join(", ")}`,
    }));
  }

  get empty(): boolean {
    return this.rules.length === 0;
  }

  ruleFor(repository: RepositoryName | string, tag: string): string | null {
    const project = projectOf(repository);
    const rule = this.rules.find((r) => r.project.test(project) && r.tags.some((t) => t.test(tag)));
    return rule ? rule.describe : null;
  }
}

export interface CompiledRetention {
  project: string;
  keepLatest?: number;
  keepTags: RegExp[];
  deleteOlderThanDays?: number;
}

/**
 * The retention rules for each repository: the first configured rule whose project pattern matches, plus
 * every rule stored for the repository's project (src/gc/project-rules.ts). A tag goes only when every
 * applicable rule deletes it, so adding a rule can only keep more (as Harbor's retain rules do).
 */
export class RetentionRules {
  private readonly configured: Array<CompiledRetention & { glob: RegExp }>;
  private readonly stored = new Map<string, CompiledRetention[]>();

  constructor(configured: readonly RetentionRule[], stored: readonly RetentionRule[] = []) {
    this.configured = configured.map((r) => ({ ...compileRetention(r), glob: projectGlob(r.project) }));
    for (const r of stored) this.stored.set(r.project, [...(this.stored.get(r.project) ?? []), compileRetention(r)]);
  }

  get empty(): boolean {
    return this.configured.length === 0 && this.stored.size === 0;
  }

  rulesFor(repository: string): CompiledRetention[] {
    const project = projectOf(repository);
    const configured = this.configured.find((r) => r.glob.test(project));
    return [...(configured ? [configured] : []), ...(this.stored.get(project) ?? [])];
  }
}

function compileRetention(r: RetentionRule): CompiledRetention {
  return { project: r.project, keepLatest: r.keepLatest, keepTags: r.keepTags.map(wholeTag), deleteOlderThanDays: r.deleteOlderThanDays };
}

export interface TagInfo {
  name: string;
  /** When the tag was last pushed (created or moved). */
  updatedAt: Date;
}

/**
 * The tags of one repository that the rule deletes. A tag stays if any clause keeps it: it matches a
 * keepTags pattern, it is immutable, it is among the keepLatest most recently pushed (ties broken by
 * name), or it was pushed within deleteOlderThanDays. A clause that is not set keeps nothing, so
 * `keepLatest: 5` alone deletes all but the newest five, and both together delete only tags that are
 * neither among the newest N nor younger than D days.
 */
export function tagsToDelete(
  rule: CompiledRetention,
  tags: readonly TagInfo[],
  now: Date,
  isImmutable: (tag: string) => boolean,
): TagInfo[] {
  const newestFirst = [...tags].sort(
    (a, b) => b.updatedAt.getTime() - a.updatedAt.getTime() || (a.name < b.name ? 1 : a.name > b.name ? -1 : 0),
  );
  const ageLimit = rule.deleteOlderThanDays === undefined ? null : now.getTime() - rule.deleteOlderThanDays * 86_400_000;
  return newestFirst.filter((tag, rank) => {
    if (rule.keepTags.some((p) => p.test(tag.name)) || isImmutable(tag.name)) return false;
    if (rule.keepLatest !== undefined && rank < rule.keepLatest) return false;
    if (ageLimit !== null && tag.updatedAt.getTime() >= ageLimit) return false;
    return true;
  });
}

/** The tags every one of the rules deletes (see RetentionRules); no rules delete nothing. */
export function tagsToDeleteByAll(
  rules: readonly CompiledRetention[],
  tags: readonly TagInfo[],
  now: Date,
  isImmutable: (tag: string) => boolean,
): TagInfo[] {
  if (!rules.length) return [];
  const [first, ...rest] = rules.map((rule) => tagsToDelete(rule, tags, now, isImmutable));
  const alsoDeleted = rest.map((list) => new Set(list.map((t) => t.name)));
  return first.filter((tag) => alsoDeleted.every((names) => names.has(tag.name)));
}
