import { useListeners } from "./subscribe";
import { get, request, setCsrfToken, type SessionInfo } from "./api";

let current: SessionInfo | null = null;
const listeners = new Set<() => void>();

function set(next: SessionInfo | null): void {
  current = next;
  setCsrfToken(next?.csrfToken ?? null);
  listeners.forEach((fn) => fn());
}

export async function loadSession(): Promise<SessionInfo> {
  const info = await get<SessionInfo>("/api/v1/session");
  set(info);
  return info;
}

export async function signIn(username: string, password: string): Promise<SessionInfo> {
  const info = await request<SessionInfo>("POST", "/api/v1/session", { username, password });
  set(info);
  return info;
}

export async function signOut(): Promise<void> {
  await request("DELETE", "/api/v1/session").catch(() => undefined);
  set(current ? { ...current, user: null, csrfToken: null } : null);
}

/** The session as last loaded; null before the first load. */
export function useSession(): SessionInfo | null {
  useListeners(listeners);
  return current;
}

export function session(): SessionInfo | null {
  return current;
}

export function isAdmin(): boolean {
  return !!current?.user?.isAdmin;
}

/** A session that has expired on the server: forget the user so the login page shows. */
export function sessionExpired(): void {
  if (current?.authEnabled && current.user) set({ ...current, user: null, csrfToken: null });
}
