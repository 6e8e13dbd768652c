/**
 * Every action Berth records, and what each one carries. Registry actions keep the names the CNCF
 * notification envelope and the audit log's pull counter (a database trigger on action 'pull') rely on;
 * the others are "<object>.<what happened>".
 */
export interface EventDetails {
  // Registry content, from /v2, the web UI (via "web": delete, copy, import, export) or a mirror warm-up.
  push: { digest: string; mediaType?: string; size?: number; via?: "web"; copiedFrom?: string; import?: string };
  pull: { digest?: string; mediaType?: string; size?: number; via?: "web"; export?: true };
  delete: { target?: "blob"; via?: "web" };
  // Authentication.
  /** A refused login says why (never which part of a password was wrong). */
  login: { reason?: LoginRefusal };
  /** The end of a web UI session. */
  logout: Record<string, never>;
  token: { scope: string[] };
  // Accounts.
  "user.created": { isAdmin: boolean };
  "user.updated": { isAdmin?: boolean; disabled?: boolean; passwordChanged?: true };
  "user.disabled": Record<string, never>;
  "user.enabled": Record<string, never>;
  "user.password_changed": Record<string, never>;
  "user.deleted": Record<string, never>;
  /** `project`: a project robot's project (absent for a system robot). */
  "robot.created": { permissions: Array<{ project: string; actions: string[] }>; expiresAt: string | null; project?: string };
  /** What changed: the new permissions, expiry (null: never) or description. */
  "robot.updated": { permissions?: Array<{ project: string; actions: string[] }>; expiresAt?: string | null; description?: string; disabled?: boolean; project?: string };
  "robot.disabled": { project?: string };
  "robot.enabled": { project?: string };
  /** A new secret was issued; the old one stopped working. */
  "robot.secret_refreshed": { project?: string };
  "robot.deleted": { project?: string };
  // Projects, their members and roles, their visibility and their rules.
  "project.created": { public: boolean; owner: string | null };
  "project.visibility_changed": { public: boolean };
  /** How many repositories were deleted with it (a forced deletion). */
  "project.deleted": { repositories: number };
  "member.set": { project: string; role: string };
  "member.removed": { project: string };
  /** An administrator set or lifted (null) the project's storage quota. */
  "project.quota_changed": { quotaBytes: number | null };
  /** A push the project's storage quota had no room for, refused with 403 DENIED. */
  "quota.exceeded": QuotaRefusal;
  /** A project webhook endpoint created, changed or deleted in the UI/API (the secret never recorded). */
  "webhook.created": WebhookDetail;
  "webhook.updated": WebhookDetail;
  "webhook.deleted": WebhookDetail;
  /**
   * A request refused with 401 or 403 that is worth an entry (src/http/refusal-audit.ts draws the line):
   * an identified caller denied (403: no right, an immutable tag, a wrong CSRF token), or a token that
   * is no longer valid. `claimedSubject` is what an unverifiable token says, never taken as the actor.
   */
  "access.denied": { status: number; code: string; message: string; method: string; route: string; claimedSubject?: string };
  "rule.created": RuleDetail;
  "rule.updated": RuleDetail;
  "rule.deleted": RuleDetail;
  // Operations.
  "gc.run": {
    runId: number;
    trigger: string;
    dryRun: boolean;
    status: string;
    startedAt: string;
    finishedAt: string;
    manifestsDeleted: number;
    blobsDeleted: number;
    tagsDeleted: number;
    bytesFreed: number;
    evictedImages: number;
    errors: string[];
  };
  "key.rotated": { kid: string };
  /** A run-time setting set in the UI/API (value) or reset to the configured default (reset: true, value: the default). */
  "setting.changed": { key: string; value: unknown; reset?: true };
  "mirror.warmed": { manifests: number; blobs: number; bytes: number };
}

/**
 * Why a login was refused: a wrong password or robot secret, an account that is disabled or (a robot) past
 * its expiry, or a name that is no account. Disabled, expired and unknown accounts answer the client alike
 * (401 after the same slow hash); only the audit log tells them apart.
 */
export type LoginRefusal = "wrong_password" | "wrong_secret" | "disabled" | "expired" | "unknown_account";
export interface WebhookDetail {
  project: string;
  url: string;
  actions: string[];
  enabled: boolean;
  hasSecret: boolean;
}

export interface RuleDetail {
  /** "<kind> rule <created|updated|deleted>", as the audit log has always shown rule changes. */
  change: string;
  project: string;
  kind: string;
  spec: unknown;
}

/** What a quota refusal records: the project, its quota and usage at the moment, and what the push needed. */
export interface QuotaRefusal {
  project: string;
  quotaBytes: number;
  usedBytes: number;
  neededBytes: number;
}

export type EventAction = keyof EventDetails;

/** How an action ended: done, refused (401/403, a quota, an immutable tag, a wrong password), or failed. */
export const OUTCOMES = ["success", "refused", "failed"] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** The actions delivered to webhooks (in the CNCF envelope) as well as to the audit log. */
export const REGISTRY_ACTIONS = ["push", "pull", "delete"] as const;
export type RegistryAction = (typeof REGISTRY_ACTIONS)[number];

/**
 * Categories a query may name instead of one action: "admin" is every action that changes Berth's
 * settings, accounts, projects or rules, or runs maintenance (GC, key rotation, mirror warm-up).
 */
export function actionsInCategory(category: string): EventAction[] | null {
  if (category !== "admin") return null;
  return Object.keys(ADMIN_ACTIONS) as AdminAction[];
}

type AdminAction = Exclude<EventAction, RegistryAction | "login" | "logout" | "token" | "quota.exceeded" | "access.denied">;
// A record over every admin action, so adding an action to EventDetails without deciding here fails to compile.
const ADMIN_ACTIONS: Record<AdminAction, true> = {
  "user.created": true,
  "user.updated": true,
  "user.disabled": true,
  "user.enabled": true,
  "user.password_changed": true,
  "user.deleted": true,
  "robot.created": true,
  "robot.updated": true,
  "robot.disabled": true,
  "robot.enabled": true,
  "robot.secret_refreshed": true,
  "robot.deleted": true,
  "project.created": true,
  "project.visibility_changed": true,
  "project.deleted": true,
  "project.quota_changed": true,
  "member.set": true,
  "member.removed": true,
  "webhook.created": true,
  "webhook.updated": true,
  "webhook.deleted": true,
  "rule.created": true,
  "rule.updated": true,
  "rule.deleted": true,
  "gc.run": true,
  "key.rotated": true,
  "setting.changed": true,
  "mirror.warmed": true,
};

export function isRegistryAction(action: string): action is RegistryAction {
  return (REGISTRY_ACTIONS as readonly string[]).includes(action);
}

/** Who acted. The system kinds are Berth itself: an operator's `berth` command, or a scheduled collection. */
export type PrincipalKind = "user" | "robot" | "anonymous" | "system-cli" | "system-gc";

/**
 * Who acted and from where: the account (or "anonymous", or a system name no account can have, since
 * account names allow no colon) and the client address — the HTTP client's (through trusted proxies),
 * "cli" for a `berth` command, "local" for what the server starts on its own.
 */
export interface Actor {
  kind: PrincipalKind;
  name: string;
  address: string;
}

export const CLI_ACTOR: Actor = { kind: "system-cli", name: "system:cli", address: "cli" };
export const GC_ACTOR: Actor = { kind: "system-gc", name: "system:gc", address: "local" };

/** Where an event's HTTP request came from (the CNCF notification envelope's `request` block). */
export interface RequestSummary {
  id: string;
  /** Client address (trusted proxies resolved). */
  addr: string;
  host: string;
  method: string;
  useragent: string;
  /** How the client reached Berth (externalUrl, else scheme://host): for absolute URLs in notifications. */
  origin: string;
}

interface EventFields<A extends EventAction> {
  action: A;
  actor: Actor;
  /** The repository acted on (registry actions). */
  repository?: string | null;
  /** What was acted on: a tag or digest for registry actions, "<object> <name>" for the others. */
  reference?: string | null;
  /** False for refused attempts (a wrong password) and failed runs; true when absent. */
  success?: boolean;
  /** How it ended; when absent, "success", or "failed" where success is false. */
  outcome?: Outcome;
  /** The project acted on, where neither the repository nor the detail names it. */
  project?: string | null;
  detail: EventDetails[A];
  /** The HTTP request the action came in, when it came in one. */
  request?: RequestSummary;
}

/** What is recorded: one action with its own detail type. */
export type EventInput = { [A in EventAction]: EventFields<A> }[EventAction];

/** An event as its maker knows it, before whoever records it adds who acted and from where. */
export type UnattributedEvent<A extends EventAction = EventAction> = A extends EventAction
  ? Omit<Extract<EventInput, { action: A }>, "actor" | "request">
  : never;
