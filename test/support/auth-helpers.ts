// Helpers for the token-auth tests (issue 4): Berth started with auth on, tokens fetched the way clients do,
// JWTs decoded and forged, and registry calls carrying an Authorization header.
import { execFile } from "node:child_process";
import { createHmac, type KeyObject } from "node:crypto";
import path from "node:path";
import { Writable } from "node:stream";
import jwt from "jsonwebtoken";
import pino, { type Logger } from "pino";
import { buildImage, digestOf, type BuiltImage } from "./oci-client";
import { startTestRegistry, type DatabaseKind, type TestRegistry } from "./registry";

export const ADMIN_PASSWORD = "admin-Pa55word-for-tests";
export const MAIN = path.resolve(__dirname, "../../dist/main.js");

export interface AuthRegistryOptions {
  database?: DatabaseKind;
  /** Merged over { enabled: true, adminPassword: ADMIN_PASSWORD }. */
  auth?: Record<string, unknown>;
  config?: Record<string, unknown>;
  logger?: Logger;
}

/** Berth with token auth on (startTestRegistry's default is auth off; config.auth replaces the whole object). */
export function startAuthRegistry(options: AuthRegistryOptions = {}): Promise<TestRegistry> {
  return startTestRegistry({
    database: options.database ?? "postgres",
    logger: options.logger,
    config: { ...options.config, auth: { enabled: true, adminPassword: ADMIN_PASSWORD, ...options.auth } },
  });
}

/** A pino logger writing JSON lines into memory, for "what did the server log" assertions. */
export function memoryLogger(level: pino.Level = "debug"): { logger: Logger; text(): string } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString("utf8"));
      callback();
    },
  });
  return { logger: pino({ level }, sink), text: () => chunks.join("") };
}

// ---------------------------------------------------------------------------------------------------------
// Credentials and tokens

export function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
}

export function bearer(token: string): string {
  return `Bearer ${token}`;
}

export interface TokenBody {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
  refresh_token?: string;
  scope?: string;
}

export interface Creds {
  username: string;
  password: string;
}

/** GET /token?service=berth&scope=…(repeated)&offline_token=… with Basic credentials or anonymously. */
export function getToken(base: string, options: { creds?: Creds | null; scopes?: string[]; offline?: boolean; account?: string } = {}): Promise<Response> {
  const query = new URLSearchParams({ service: "berth" });
  for (const scope of options.scopes ?? []) query.append("scope", scope);
  if (options.offline) query.set("offline_token", "true");
  if (options.account ?? options.creds?.username) query.set("account", options.account ?? options.creds!.username);
  const headers: Record<string, string> = options.creds ? { Authorization: basic(options.creds.username, options.creds.password) } : {};
  return fetch(`${base}/token?${query}`, { headers });
}

/** GET /token that must answer 200; returns the access token. */
export async function tokenFor(base: string, creds: Creds | null, ...scopes: string[]): Promise<string> {
  const res = await getToken(base, { creds, scopes });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET /token for ${creds?.username ?? "anonymous"} ${scopes.join(" ")}: ${res.status} ${text}`);
  return (JSON.parse(text) as TokenBody).token;
}

/** POST /token with an OAuth2 form. */
export function postToken(base: string, form: Record<string, string>): Promise<Response> {
  return fetch(`${base}/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(form).toString(),
  });
}

export interface DecodedJwt {
  header: Record<string, unknown>;
  payload: Record<string, unknown> & { access?: Array<{ type: string; name: string; actions: string[] }> };
  signature: string;
}

export function decodeJwt(token: string): DecodedJwt {
  const [h, p, s] = token.split(".");
  return {
    header: JSON.parse(Buffer.from(h, "base64url").toString("utf8")),
    payload: JSON.parse(Buffer.from(p, "base64url").toString("utf8")),
    signature: s ?? "",
  };
}

export function b64url(value: object | string | Buffer): string {
  const buf = Buffer.isBuffer(value) ? value : Buffer.from(typeof value === "string" ? value : JSON.stringify(value));
  return buf.toString("base64url");
}

/** A JWT signed with HMAC-SHA256 over the given secret bytes, built by hand (no library checks in the way). */
export function hs256Jwt(header: object, payload: object, secret: string | Buffer): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
}

/** A JWT with `alg: none` and an empty signature. */
export function unsignedJwt(payload: object, header: object = { alg: "none", typ: "JWT" }): string {
  return `${b64url(header)}.${b64url(payload)}.`;
}

/** Claims like Berth's own (the first admin is user 1, of credential generation 1), for forging tokens with chosen differences. */
export function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { iss: "berth", aud: "berth", sub: "admin", account: "user:1", generation: 1, iat: now, nbf: now - 1, exp: now + 300, jti: `forged-${now}-${Math.random()}`, access: [], ...overrides };
}

/** Signs claims with an ES256 key (the real one or an attacker's) and the given kid; claims go in as given. */
export function es256Jwt(key: KeyObject, kid: string, payload: Record<string, unknown>): string {
  return jwt.sign(payload, key, { algorithm: "ES256", keyid: kid, noTimestamp: true });
}

/** Parses `Bearer realm="…",service="…",scope="…"` into its parameters (and the scheme). */
export function parseChallenge(header: string | null): Record<string, string> {
  if (!header) return {};
  const scheme = /^(\w+)\s/.exec(header)?.[1] ?? "";
  const out: Record<string, string> = { scheme };
  for (const m of header.matchAll(/(\w+)="([^"]*)"/g)) out[m[1]] = m[2];
  return out;
}

export function repositoryScope(name: string, actions: string): string {
  return `repository:${name}:${actions}`;
}

// ---------------------------------------------------------------------------------------------------------
// Registry calls with an Authorization header

function withAuth(authorization: string | undefined, headers: Record<string, string> = {}): Record<string, string> {
  return authorization ? { ...headers, Authorization: authorization } : headers;
}

export function v2(base: string, pathAndQuery: string, authorization?: string, init: RequestInit & { headers?: Record<string, string> } = {}): Promise<Response> {
  return fetch(`${base}${pathAndQuery}`, { ...init, headers: withAuth(authorization, init.headers) });
}

/** Monolithic blob push (POST ?digest=). */
export function pushBlobAs(base: string, repo: string, data: Buffer, authorization?: string): Promise<Response> {
  return fetch(`${base}/v2/${repo}/blobs/uploads/?digest=${encodeURIComponent(digestOf(data))}`, {
    method: "POST",
    headers: withAuth(authorization, { "Content-Type": "application/octet-stream" }),
    body: data,
  });
}

export function putManifestAs(base: string, repo: string, ref: string, image: BuiltImage, authorization?: string): Promise<Response> {
  return fetch(`${base}/v2/${repo}/manifests/${ref}`, {
    method: "PUT",
    headers: withAuth(authorization, { "Content-Type": image.mediaType }),
    body: image.bytes,
  });
}

export function getManifestAs(base: string, repo: string, ref: string, authorization?: string, method: "GET" | "HEAD" = "GET"): Promise<Response> {
  return fetch(`${base}/v2/${repo}/manifests/${ref}`, {
    method,
    headers: withAuth(authorization, { Accept: "application/vnd.oci.image.manifest.v1+json" }),
  });
}

/** Pushes config, layers and manifest; throws with the first failing response. Returns the image. */
export async function pushImageAs(base: string, repo: string, ref: string, authorization?: string, image: BuiltImage = buildImage({ layers: 1, layerSize: 256 })): Promise<BuiltImage> {
  for (const blob of [image.config, ...image.layers]) {
    const res = await pushBlobAs(base, repo, blob.data, authorization);
    if (res.status !== 201) throw new Error(`pushing a blob to ${repo}: ${res.status} ${await res.text()}`);
  }
  const res = await putManifestAs(base, repo, ref, image, authorization);
  if (res.status !== 201) throw new Error(`pushing manifest ${repo}:${ref}: ${res.status} ${await res.text()}`);
  return image;
}

/** The OCI error codes in a response body ([] when the body is not an OCI error). */
export async function errorCodes(res: Response): Promise<string[]> {
  const text = await res.text();
  try {
    return (JSON.parse(text) as { errors?: Array<{ code: string }> }).errors?.map((e) => e.code) ?? [];
  } catch {
    return [];
  }
}

/** Status and error codes together, so a failing expectation shows both. */
export async function outcome(res: Response): Promise<{ status: number; codes: string[] }> {
  return { status: res.status, codes: await errorCodes(res) };
}

// ---------------------------------------------------------------------------------------------------------
// Accounts

let userCounter = 0;

/** A unique account name for one test ("label-N-xxxx"). */
export function uniqueName(label: string): string {
  return `${label}-${++userCounter}-${Math.random().toString(36).slice(2, 6)}`;
}

/** Creates a user through the AccountService; returns its credentials. */
export async function addUser(registry: TestRegistry, label: string, isAdmin = false): Promise<Creds> {
  const username = uniqueName(label);
  const password = `pw-${username}-Secret`;
  await registry.deps.auth.accounts.addUser(username, password, isAdmin);
  return { username, password };
}

// ---------------------------------------------------------------------------------------------------------
// The CLI

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/main.js …` and resolves with its exit code and output (never rejects on a non-zero exit). */
export function runBerth(args: string[], options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [MAIN, ...args],
      { env: options.env ?? process.env, timeout: options.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err && typeof (err as NodeJS.ErrnoException & { code?: unknown }).code !== "number") return reject(err);
        resolve({ code: err ? Number((err as { code?: number }).code) : 0, stdout: String(stdout), stderr: String(stderr) });
      },
    );
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(options.input ?? "");
  });
}
