// Retention and tag-immutability rules: which project a repository belongs to, which rule applies, and
// which tags a retention rule deletes. Pure functions; the database work is in retention.ts.
import type { RepositoryName } from "../oci/names";
import type { TagImmutability } from "../registry/manifest-service";
import type { ImmutableTagRule, RetentionRule } from "./config";

/** A project is the first path segment of a repository name ("team" for "team/app/api"). */
export function projectOf(repository: string): string {
  const i = repository.indexOf("/");
  return i === -1 ? repository : repository.slice(0, i);
}

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

/** The immutability rules from the configuration, as the manifest service asks about them. */
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

/** The retention rules in configuration order; the first whose project pattern matches applies. */
export class RetentionRules {
  private readonly rules: Array<CompiledRetention & { glob: RegExp }>;

  constructor(rules: readonly RetentionRule[]) {
    this.rules = rules.map((r) => ({
      project: r.project,
      glob: projectGlob(r.project),
      keepLatest: r.keepLatest,
      keepTags: r.keepTags.map(wholeTag),
      deleteOlderThanDays: r.deleteOlderThanDays,
    }));
  }

  get empty(): boolean {
    return this.rules.length === 0;
  }

  ruleFor(repository: string): CompiledRetention | null {
    const project = projectOf(repository);
    return this.rules.find((r) => r.glob.test(project)) ?? null;
  }
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
