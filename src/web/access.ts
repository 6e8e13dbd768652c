import type { IncomingMessage } from "node:http";
import type { AuthComponents } from "../auth";
import type { Visibility } from "../auth/policy";
import type { Principal } from "../auth/principal";
import type { Config } from "../config";
import { OciError } from "../http/errors";
import type { Mirror } from "../proxy";
import { identifyCaller, isAdminCaller, type Caller, type CallerOptions } from "../admin/admin-gate";
import type { MirrorVisibility } from "../metadata/web-queries";

export type Action = "pull" | "push" | "delete";

/**
 * Who the web API's caller is and what they may do with a repository: the registry's own AccessPolicy
 * decides, so the UI never shows or does more than `docker pull/push` would allow the same account.
 */
export class WebAccess {
  constructor(private readonly deps: { auth: AuthComponents; config: Pick<Config, "mirror">; mirror: Mirror | null }) {}

  get authEnabled(): boolean {
    return this.deps.auth.token !== null;
  }

  /** The caller; anonymous callers get the anonymous principal (public projects) where `allowAnonymous`. */
  caller(req: IncomingMessage, options: CallerOptions = {}): Promise<Caller> {
    return identifyCaller(this.deps.auth, req, options);
  }

  /** `create`: the caller is about to push, so a missing project is created for it when it may create one. */
  async actions(caller: Caller, repository: string, create = false): Promise<Action[]> {
    if (caller.kind === "open") return ["pull", "push", "delete"];
    const policy = this.deps.auth.token?.policy;
    if (!policy) return ["pull", "push", "delete"];
    return (await policy.repositoryActions(caller, repository, create)).filter((a): a is Action => a === "pull" || a === "push" || a === "delete");
  }

  /** Throws 401 for an anonymous caller (log in first) and 403 for an account that lacks the right. */
  async require(caller: Caller, repository: string, action: Action): Promise<Action[]> {
    const actions = await this.actions(caller, repository, action === "push");
    if (!actions.includes(action)) throw denied(caller, `${action} access to ${repository} is required`);
    return actions;
  }

  requireAdmin(caller: Caller): void {
    if (!isAdminCaller(caller)) throw denied(caller, "administrators only");
  }

  async visibility(caller: Caller): Promise<Visibility> {
    const policy = this.deps.auth.token?.policy;
    if (caller.kind === "open" || !policy) return { all: true };
    return policy.visibility(caller);
  }

  /** Mirrored names the policy lets anyone pull (mirror mode with anonymous pull). */
  mirrored(): MirrorVisibility {
    const mirror = this.deps.mirror;
    if (!mirror || !this.deps.config.mirror.anonymousPull) return null;
    const prefixes = mirror.upstreams.map((u) => u.config.prefix);
    return prefixes.includes("") ? "all" : prefixes;
  }

  /** Creates the repository's project for a user writing into a new one, as a `docker push` would. */
  async beforeWrite(caller: Caller, repository: string): Promise<void> {
    const policy = this.deps.auth.token?.policy;
    if (!policy || caller.kind === "open") return;
    await policy.ensureProject(async () => caller as Principal, repository);
  }
}

export function denied(caller: Caller, detail: string): OciError {
  return caller.kind === "anonymous" ? new OciError("UNAUTHORIZED", "log in first: " + detail) : new OciError("DENIED", detail);
}
