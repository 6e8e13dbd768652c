import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { WebSession, WebSessions } from "../auth/sessions";
import { clientInfo } from "./client-info";

/** The browser session cookie and the header the UI echoes its CSRF token in on unsafe requests. */
export const SESSION_COOKIE = "berth_session";
export const CSRF_HEADER = "x-berth-csrf";

/**
 * The session cookie's value, if the request carries one of the form we issue (base64url, see
 * auth/sessions.ts): anything else (a malformed escape, a NUL) is no session, never a query.
 */
export function sessionCookie(req: IncomingMessage): string | null {
  const header = req.headers.cookie;
  if (!header) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    const value = part.slice(eq + 1).trim();
    return /^[A-Za-z0-9_-]{1,256}$/.test(value) ? value : null;
  }
  return null;
}

const resolved = new WeakMap<IncomingMessage, Promise<WebSession | null>>();

/**
 * The request's browser session, looked up once per request (two queries: the session, then its account)
 * however many layers ask — the rate limiter and then the route both need it. Kept like clientInfo, by
 * request, so nothing outlives the request.
 */
export function requestSession(req: IncomingMessage, sessions: Pick<WebSessions, "resolve"> | undefined): Promise<WebSession | null> {
  let session = resolved.get(req);
  if (!session) {
    const cookie = sessionCookie(req);
    session = cookie && sessions ? sessions.resolve(cookie) : Promise.resolve(null);
    resolved.set(req, session);
  }
  return session;
}

/** Methods that change state need the CSRF header when the caller is authenticated by cookie. */
export function isUnsafeMethod(method: string | undefined): boolean {
  return !["GET", "HEAD", "OPTIONS"].includes(method ?? "GET");
}

export function csrfMatches(req: IncomingMessage, expected: string): boolean {
  const given = req.headers[CSRF_HEADER];
  if (typeof given !== "string") return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Set-Cookie for the session: HttpOnly (scripts never see it), SameSite=Strict (never sent on cross-site
 * requests), Path=/ and Secure when the UI is served over HTTPS.
 */
export function sessionCookieHeader(token: string, maxAgeSeconds: number, secure: boolean): string {
  const parts = [`${SESSION_COOKIE}=${token}`, "Path=/", "HttpOnly", "SameSite=Strict", `Max-Age=${maxAgeSeconds}`];
  if (secure) parts.push("Secure");
  return parts.join("; ");
}

export function clearedCookieHeader(secure: boolean): string {
  return sessionCookieHeader("", 0, secure);
}

/**
 * HTTPS as the browser sees it: TLS here, or a trusted TLS-terminating proxy that says so (client-info.ts
 * decides whom to believe — X-Forwarded-Proto from anyone else is ignored), or an https external URL.
 */
export function isHttps(req: IncomingMessage, externalUrl: string | undefined): boolean {
  return clientInfo(req).proto === "https" || (externalUrl?.startsWith("https://") ?? false);
}
