// The admin/web JSON API, with the session's CSRF token on every request (the header also tells the server
// not to answer 401 with a Basic challenge, which would make the browser show its own login dialog).
import type { GcHeldBack, GcReport, GcRun, GcSettings, GcSettingsUpdate, StorageUsage } from "../../src/admin/gc-types";

export type { GcHeldBack, GcReport, GcRun, GcSettings, GcSettingsUpdate, StorageUsage };

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The error's detail as the server sent it (e.g. how many repositories a project deletion would take). */
    readonly detail?: unknown,
  ) {
    super(message);
  }
}

let csrf = "-";

export function setCsrfToken(token: string | null): void {
  csrf = token ?? "-";
}

export function csrfToken(): string {
  return csrf;
}

/** Listeners told when the server says the session is gone (401), so the app can show the login page. */
const unauthorizedListeners = new Set<() => void>();
export function onUnauthorized(fn: () => void): () => void {
  unauthorizedListeners.add(fn);
  return () => unauthorizedListeners.delete(fn);
}

export async function request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { "X-Berth-CSRF": csrf, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" });
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: reported below
  }
  if (!res.ok) throw errorOf(res.status, json, text);
  return json as T;
}

export function errorOf(status: number, json: unknown, text: string): ApiError {
  const first = (json as { errors?: Array<{ code?: string; message?: string; detail?: unknown }> } | null)?.errors?.[0];
  const detail = first?.detail;
  // The server's own words: a string detail says more than the code's stock message; a structured detail
  // stays on the error for whoever knows its shape, and is shown raw only when there are no words at all.
  const message =
    typeof detail === "string" ? detail : first?.message || (detail !== undefined ? JSON.stringify(detail) : text.slice(0, 200) || `HTTP ${status}`);
  if (status === 401 && !location.pathname.startsWith("/login")) unauthorizedListeners.forEach((fn) => fn());
  return new ApiError(status, first?.code ?? "UNKNOWN", message, detail);
}

export const get = <T>(path: string) => request<T>("GET", path);
export const post = <T>(path: string, body?: unknown) => request<T>("POST", path, body ?? {});
export const put = <T>(path: string, body?: unknown) => request<T>("PUT", path, body ?? {});
export const patch = <T>(path: string, body?: unknown) => request<T>("PATCH", path, body ?? {});
export const del = <T>(path: string) => request<T>("DELETE", path);

/** Query string from an object, leaving out empty values. */
export function qs(params: Record<string, string | number | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") search.set(k, String(v));
  const s = search.toString();
  return s ? `?${s}` : "";
}

/** Uploads a file as multipart form data with progress (fetch has no upload progress). */
export function upload<T>(path: string, file: File, onProgress: (fraction: number) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.setRequestHeader("X-Berth-CSRF", csrf);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      let json: unknown = null;
      try {
        json = JSON.parse(xhr.responseText);
      } catch {
        // reported below
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(json as T);
      else reject(errorOf(xhr.status, json, xhr.responseText));
    };
    xhr.onerror = () => reject(new ApiError(0, "NETWORK", "network error"));
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}

// ---- response shapes ----

export interface SessionInfo {
  authEnabled: boolean;
  user: { name: string; kind: string; isAdmin: boolean } | null;
  csrfToken: string | null;
  registry: string;
  mirror: boolean;
  gc: boolean;
}

export interface Paged<T> {
  page: number;
  pageSize: number;
  total: number;
  items: T[];
}

export interface Repository {
  name: string;
  project: string;
  public: boolean | null;
  tagCount: number;
  sizeBytes: number;
  pushedAt: string;
  pullCount: number;
  lastPulledAt: string | null;
}

export interface RepositoryDetail extends Repository {
  manifestCount: number;
  actions: string[];
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  digest?: string;
}

export interface Tag {
  name: string;
  digest: string;
  mediaType: string;
  kind: "image" | "index" | "other";
  size: number | null;
  platforms: Platform[];
  artifactType: string | null;
  createdAt: string;
  pushedAt: string;
  lastPulledAt: string | null;
  /** An immutability rule forbids moving or deleting it. */
  immutable: boolean;
}

/** One manifest of a repository as the artifact list shows it. */
export interface Artifact {
  digest: string;
  mediaType: string;
  kind: "image" | "index" | "other";
  size: number | null;
  platforms: Platform[];
  artifactType: string | null;
  createdAt: string;
  lastPulledAt: string | null;
  tags: string[];
  /** Those of its tags an immutability rule protects. */
  immutableTags: string[];
  /** Manifests that name it as their subject (signatures, SBOMs). */
  referrers: number;
}

export interface ArtifactPage extends Paged<Artifact> {
  untaggedTotal: number;
}

export interface HistoryStep {
  created: string | null;
  createdBy: string;
  comment: string | null;
  emptyLayer: boolean;
}

export interface ImageDetail {
  repository: string;
  digest: string;
  mediaType: string;
  kind: "image" | "index" | "other";
  size: number | null;
  manifestSize: number;
  tags: string[];
  createdAt: string | null;
  lastPulledAt: string | null;
  artifactType: string | null;
  annotations: Record<string, string> | null;
  subject: string | null;
  config: {
    architecture: string | null;
    os: string | null;
    variant: string | null;
    created: string | null;
    author: string | null;
    entrypoint: string[] | null;
    cmd: string[] | null;
    env: string[];
    labels: Record<string, string>;
    exposedPorts: string[];
    volumes: string[];
    workingDir: string | null;
    user: string | null;
    stopSignal: string | null;
    history: HistoryStep[];
  } | null;
  configDigest: string | null;
  configMediaType: string | null;
  configError: string | null;
  layers: Array<{ layer: { digest: string; mediaType: string; size: number } | null; step: HistoryStep | null }>;
  children: Array<{ digest: string; mediaType: string; size: number | null; platform: Platform | null; attestation: boolean; stored: boolean }>;
  referrers: Array<{ digest: string; mediaType: string; size: number; artifactType: string | null; annotations: Record<string, string> | null }>;
  manifest: unknown;
}

export interface User {
  username: string;
  isAdmin: boolean;
  disabled: boolean;
  createdAt: string;
}

export interface Robot {
  name: string;
  /** A project robot's project; null for a system robot. */
  project: string | null;
  description: string;
  permissions: Array<{ project: string; actions: string[] }>;
  expiresAt: string | null;
  disabled: boolean;
  createdAt: string;
}

export interface Project {
  name: string;
  public: boolean;
  createdAt: string;
  repositories: number;
  /** Each blob and manifest the project holds, counted once. */
  usedBytes: number;
  /** Null: no quota. */
  quotaBytes: number | null;
}

/** A project the signed-in user holds a role in (/api/v1/me/projects). */
export interface MyProject extends Project {
  role: string;
}

export interface RetentionSpec {
  keepLatest?: number;
  keepTags: string[];
  deleteOlderThanDays?: number;
}

export interface ImmutableSpec {
  tags: string[];
}

export type RuleSpec = { kind: "retention"; spec: RetentionSpec } | { kind: "immutable"; spec: ImmutableSpec };

export type StoredRule = RuleSpec & { id: number; project: string; updatedBy: string; createdAt: string; updatedAt: string };

export interface ProjectRules {
  project: string;
  configured: { retention: (RetentionSpec & { project: string }) | null; immutableTags: Array<ImmutableSpec & { project: string }> };
  stored: StoredRule[];
  canEdit: boolean;
}

export interface RetentionPreview {
  project: string;
  deletions: Array<{ repository: string; tag: string; digest: string; pushedAt: string }>;
}

export interface AuditEvent {
  id: string;
  at: string;
  actor: string;
  action: string;
  repository: string | null;
  reference: string | null;
  success: boolean;
  /** success | refused | failed */
  outcome: string;
  project: string | null;
  clientIp: string | null;
  detail: Record<string, unknown> | null;
}

export interface MirrorInfo {
  enabled: boolean;
  upstreams?: Array<{ name: string; url: string; prefix: string; health: string; rateLimitRemaining: number | null }>;
  hits?: number;
  misses?: number;
  hitRate?: number;
  staleServes?: number;
  bytesFromUpstream?: number;
  bytesSaved?: number;
  recentErrors?: Array<{ at: string; upstream: string; message: string }>;
  mostPulled?: Array<{ repository: string; pulls: number }>;
  upstreamLatencyMs?: Record<string, { requests: number; averageMs: number }>;
}

export interface ImportResult {
  repository: string;
  format: "oci-layout" | "docker-save";
  images: Array<{ tag: string | null; digest: string; mediaType: string; platforms: string[] }>;
  warnings: string[];
}
