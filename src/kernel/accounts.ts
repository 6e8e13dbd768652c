// Vocabulary of accounts shared by the account store (metadata/) and the access rules (auth/).

export interface RobotPermission {
  /** A project name, or "*" for every project. */
  project: string;
  actions: Array<"pull" | "push" | "delete">;
  /**
   * The id of the named project when the permission was granted (absent when it did not exist yet): a
   * project deleted and created again under the name, maybe by someone else, is another project, which the
   * permission does not reach. Deleting a project also removes the permissions naming it.
   */
  projectId?: number;
}

export const ROLES = ["guest", "developer", "maintainer", "admin"] as const;
export type Role = (typeof ROLES)[number];
