/**
 * Scopes and access claims of the Docker registry token spec:
 *   repository:team/app:pull,push   registry:catalog:*   repository(plugin):name:pull
 * The resource name may itself hold colons (host:port/name), so the actions are what follows the LAST colon
 * and the type what precedes the first.
 * `api:admin:*` is Berth's own: a token for the admin and web JSON API under /api/v1 (registry tokens are
 * for /v2 only).
 */

export type ResourceType = "repository" | "registry" | "api";

export interface Access {
  type: ResourceType;
  name: string;
  actions: string[];
}

/** What a token must grant to be accepted by the JSON API under /api/v1. */
export const ADMIN_API: Access = { type: "api", name: "admin", actions: ["*"] };

const REPOSITORY_ACTIONS = new Set(["pull", "push", "delete", "*"]);

/** Parses every `scope` value (each may hold several space-separated scopes); what cannot be granted is dropped. */
export function parseScopes(values: readonly string[]): Access[] {
  const out: Access[] = [];
  for (const value of values) {
    for (const item of value.split(" ")) {
      const access = parseScope(item);
      if (access) out.push(access);
    }
  }
  return mergeAccess(out);
}

export function parseScope(item: string): Access | null {
  const first = item.indexOf(":");
  const last = item.lastIndexOf(":");
  if (first <= 0 || last === first) return null;
  // A resource class such as "repository(plugin)" changes nothing we grant: it is read as its base type.
  const type = item.slice(0, first).replace(/\([a-z0-9]+\)$/, "");
  const name = item.slice(first + 1, last);
  const actions = item
    .slice(last + 1)
    .split(",")
    .filter((a) => a !== "");
  if (!name || !actions.length) return null;
  if (type === "repository") {
    const known = actions.filter((a) => REPOSITORY_ACTIONS.has(a));
    return known.length ? { type, name, actions: known } : null;
  }
  if ((type === "registry" && name === "catalog") || (type === "api" && name === ADMIN_API.name)) {
    return actions.includes("*") ? { type, name, actions: ["*"] } : null;
  }
  return null;
}

export function formatScope(access: Access): string {
  return `${access.type}:${access.name}:${access.actions.join(",")}`;
}

/** Same resource named twice → one entry with the union of actions. */
export function mergeAccess(list: readonly Access[]): Access[] {
  const byKey = new Map<string, Access>();
  for (const a of list) {
    const key = `${a.type}:${a.name}`;
    const existing = byKey.get(key);
    if (existing) existing.actions = [...new Set([...existing.actions, ...a.actions])];
    else byKey.set(key, { type: a.type, name: a.name, actions: [...new Set(a.actions)] });
  }
  return [...byKey.values()];
}

/** Whether `granted` allows `action` on the resource; "*" allows every action. */
export function allows(granted: readonly Access[], type: ResourceType, name: string, action: string): boolean {
  return granted.some((g) => g.type === type && g.name === name && (g.actions.includes(action) || g.actions.includes("*")));
}

export function coversAll(granted: readonly Access[], required: readonly Access[]): boolean {
  return required.every((r) => r.actions.every((action) => allows(granted, r.type, r.name, action)));
}

/** The requested actions that `permitted` allows, resource by resource; resources left with none are dropped. */
export function intersect(requested: readonly Access[], permitted: (access: Access) => readonly string[]): Access[] {
  return requested
    .map((r) => {
      const allowed = permitted(r);
      const actions = allowed.includes("*") ? r.actions : r.actions.filter((a) => allowed.includes(a));
      return { ...r, actions };
    })
    .filter((r) => r.actions.length > 0);
}
