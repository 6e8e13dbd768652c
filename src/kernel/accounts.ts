// Vocabulary of accounts shared by the account store (metadata/) and the access rules (auth/).

export interface RobotPermission {
  /** A project name, or "*" for every project. */
  project: string;
  actions: Array<"pull" | "push" | "delete">;
}

export const ROLES = ["guest", "developer", "maintainer", "admin"] as const;
export type Role = (typeof ROLES)[number];
