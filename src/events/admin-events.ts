import type { UnattributedEvent as Unattributed } from "./vocabulary";

/**
 * One account change, named for what changed: a password alone, or (dis)abling alone, gets its own action,
 * so an audit filter or a reader finds them; anything else is "user.updated" listing the changes.
 */
export function userChangeEvent(
  username: string,
  changes: { password?: string; isAdmin?: boolean; disabled?: boolean },
): Unattributed<"user.password_changed" | "user.disabled" | "user.enabled" | "user.updated"> {
  const reference = `user ${username}`;
  const changed = Object.keys(changes).filter((k) => changes[k as keyof typeof changes] !== undefined);
  if (changed.length === 1 && changes.password !== undefined) return { action: "user.password_changed", reference, detail: {} };
  if (changed.length === 1 && changes.disabled !== undefined) return { action: changes.disabled ? "user.disabled" : "user.enabled", reference, detail: {} };
  return {
    action: "user.updated",
    reference,
    detail: {
      ...(changes.isAdmin !== undefined ? { isAdmin: changes.isAdmin } : {}),
      ...(changes.disabled !== undefined ? { disabled: changes.disabled } : {}),
      ...(changes.password !== undefined ? { passwordChanged: true as const } : {}),
    },
  };
}

interface RobotFacts {
  name: string;
  /** A project robot's project; null for a system robot. */
  project: string | null;
  permissions: Array<{ project: string; actions: string[] }>;
  expiresAt: Date | null;
}

const inProject = (robot: Pick<RobotFacts, "project">) => (robot.project === null ? {} : { project: robot.project });

export function robotCreatedEvent(robot: RobotFacts): Unattributed<"robot.created"> {
  return { action: "robot.created", reference: `robot ${robot.name}`, detail: { permissions: robot.permissions, expiresAt: robot.expiresAt?.toISOString() ?? null, ...inProject(robot) } };
}

/**
 * One robot change, named as userChangeEvent names a user's: (dis)abling alone gets its own action, anything
 * else is "robot.updated" with the new values of what was asked to change (as the robot now has them).
 */
export function robotChangeEvent(
  robot: RobotFacts & { description: string },
  changes: { description?: string; permissions?: unknown; expiresAt?: unknown; disabled?: boolean },
): Unattributed<"robot.disabled" | "robot.enabled" | "robot.updated"> {
  const reference = `robot ${robot.name}`;
  const changed = Object.keys(changes).filter((k) => changes[k as keyof typeof changes] !== undefined);
  if (changed.length === 1 && changes.disabled !== undefined) return { action: changes.disabled ? "robot.disabled" : "robot.enabled", reference, detail: inProject(robot) };
  return {
    action: "robot.updated",
    reference,
    detail: {
      ...(changes.permissions !== undefined ? { permissions: robot.permissions } : {}),
      ...(changes.expiresAt !== undefined ? { expiresAt: robot.expiresAt?.toISOString() ?? null } : {}),
      ...(changes.description !== undefined ? { description: robot.description } : {}),
      ...(changes.disabled !== undefined ? { disabled: changes.disabled } : {}),
      ...inProject(robot),
    },
  };
}

/** A robot's secret refreshed, or the robot deleted. */
export function robotEvent(action: "robot.secret_refreshed" | "robot.deleted", robot: Pick<RobotFacts, "name" | "project">): Unattributed<"robot.secret_refreshed" | "robot.deleted"> {
  return { action, reference: `robot ${robot.name}`, detail: inProject(robot) };
}

export function mirrorWarmedEvent(warmed: { image: string; manifests: number; blobs: number; bytes: number }): Unattributed<"mirror.warmed"> {
  return { action: "mirror.warmed", reference: warmed.image, detail: { manifests: warmed.manifests, blobs: warmed.blobs, bytes: warmed.bytes } };
}
