// A tiny history router: the path is the state; links and navigate() push it, the back button pops it.
import { useEffect, useState } from "preact/hooks";

const listeners = new Set<() => void>();

export function navigate(to: string, replace = false): void {
  if (to === location.pathname + location.search) return;
  if (replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  listeners.forEach((fn) => fn());
  window.scrollTo(0, 0);
}

window.addEventListener("popstate", () => listeners.forEach((fn) => fn()));

export function useLocation(): { path: string; query: URLSearchParams } {
  const [, force] = useState(0);
  useEffect(() => {
    const fn = () => force((n) => n + 1);
    listeners.add(fn);
    return () => void listeners.delete(fn);
  }, []);
  return { path: location.pathname, query: new URLSearchParams(location.search) };
}

/** Replaces some query parameters of the current location (empty values are dropped). */
export function withQuery(changes: Record<string, string | number | null | undefined>): string {
  const query = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === undefined || v === "") query.delete(k);
    else query.set(k, String(v));
  }
  const s = query.toString();
  return location.pathname + (s ? `?${s}` : "");
}

/** Intercepts plain left clicks on same-origin links so they navigate without reloading the page. */
export function installLinkInterceptor(): void {
  document.addEventListener("click", (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = (e.target as Element | null)?.closest?.("a");
    if (!a || a.target || a.hasAttribute("download") || a.origin !== location.origin) return;
    if (/^\/(api|v2|v1|token)\//.test(a.pathname)) return;
    e.preventDefault();
    navigate(a.pathname + a.search);
  });
}
