import type { RobotPermission, Role } from "../kernel/accounts";
import { projectOf } from "../kernel/names";

/**
 * Who is asking: resolved once from credentials or a token, then passed inward. `id` names the account (never
 * reused); `generation` is its credential generation, which tokens and sessions carry and must match.
 */
export type Principal =
  | { kind: "anonymous"; name: "" }
  | { kind: "user"; name: string; id: number; generation: number; isAdmin: boolean }
  | { kind: "robot"; name: string; id: number; generation: number; permissions: RobotPermission[] };

export type AccountPrincipal = Exclude<Principal, { kind: "anonymous" }>;

export { ROLES, type Role, type RobotPermission } from "../kernel/accounts";

export const ANONYMOUS: Principal = { kind: "anonymous", name: "" };

export const ROLE_ACTIONS: Record<Role, string[]> = {
  guest: ["pull"],
  developer: ["pull", "push"],
  maintainer: ["pull", "push", "delete"],
  admin: ["pull", "push", "delete"],
};

/** Robots are named "robot$<name>", as in Harbor, so they never collide with users. */
export const ROBOT_PREFIX = "robot$";

export { projectOf };
