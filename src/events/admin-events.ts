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

export function robotCreatedEvent(robot: { name: string; permissions: Array<{ project: string; actions: string[] }>; expiresAt: Date | null }): Unattributed<"robot.created"> {
  return { action: "robot.created", reference: `robot ${robot.name}`, detail: { permissions: robot.permissions, expiresAt: robot.expiresAt?.toISOString() ?? null } };
}

export function mirrorWarmedEvent(warmed: { image: string; manifests: number; blobs: number; bytes: number }): Unattributed<"mirror.warmed"> {
  return { action: "mirror.warmed", reference: warmed.image, detail: { manifests: warmed.manifests, blobs: warmed.blobs, bytes: warmed.bytes } };
}
