// The rules in force: the configuration's plus those stored per project, compiled and held in memory so the
// manifest PUT path asks no database. Every replica reloads the stored rules every few seconds; the process
// that changes a rule reloads at once (as the signing key ring in src/auth does).
import type { Logger } from "pino";
import type { RepositoryName } from "../kernel/names";
import type { TagImmutability } from "../registry/manifest-service";
import type { ImmutableTagRule, RetentionRule } from "../config/gc";
import type { StoredRule } from "./project-rule-store";
import { ImmutableTags, RetentionRules } from "./rules";

export interface CompiledRules {
  retention: RetentionRules;
  immutable: ImmutableTags;
}

export interface ConfiguredRules {
  retention: readonly RetentionRule[];
  immutableTags: readonly ImmutableTagRule[];
}

export class LiveRules implements TagImmutability {
  private compiled: CompiledRules;
  /** Reloads may overlap (timer and a change); only a newer one than the last applied may replace it. */
  private started = 0;
  private applied = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly configured: ConfiguredRules,
    private readonly load: () => Promise<StoredRule[]>,
    private readonly logger?: Logger,
  ) {
    this.compiled = compile(configured, []);
  }

  get current(): CompiledRules {
    return this.compiled;
  }

  get empty(): boolean {
    return this.compiled.immutable.empty;
  }

  ruleFor(repository: RepositoryName | string, tag: string): string | null {
    return this.compiled.immutable.ruleFor(repository, tag);
  }

  /** Reads the stored rules now and returns what is in force afterwards. */
  async refresh(): Promise<CompiledRules> {
    const seq = ++this.started;
    const stored = await this.load();
    if (seq > this.applied) {
      this.applied = seq;
      this.compiled = compile(this.configured, stored);
    }
    return this.compiled;
  }

  /** Loads the stored rules, then keeps reloading them every `intervalMs`. */
  async watch(intervalMs: number): Promise<void> {
    await this.refresh();
    this.timer ??= setInterval(() => {
      this.refresh().catch((err: unknown) => this.logger?.warn({ err }, "could not reload the retention and immutability rules"));
    }, intervalMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

function compile(configured: ConfiguredRules, stored: readonly StoredRule[]): CompiledRules {
  const retention: RetentionRule[] = [];
  const immutable: ImmutableTagRule[] = [...configured.immutableTags];
  for (const rule of stored) {
    if (rule.kind === "retention") retention.push({ project: rule.project, ...rule.spec });
    else immutable.push({ project: rule.project, ...rule.spec });
  }
  return { retention: new RetentionRules(configured.retention, retention), immutable: new ImmutableTags(immutable) };
}
