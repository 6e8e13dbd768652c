import { z } from "zod";
import { NOTIFICATION_ACTIONS } from "../config/ops";

/** Endpoints one project may have. */
export const MAX_WEBHOOKS_PER_PROJECT = 20;
export const MAX_WEBHOOK_BODY_BYTES = 16 * 1024;
const MAX_URL_LENGTH = 2048;

/**
 * A receiver URL a project admin may give: http or https, a host, no credentials (they would show in the
 * UI and the audit log; the secret signs instead), no fragment, and no control characters or spaces.
 * Where it may lead is checked at delivery, on the addresses DNS gives (src/ops/project-webhooks.ts).
 */
const UrlSchema = z
  .string()
  .max(MAX_URL_LENGTH, `must be at most ${MAX_URL_LENGTH} characters`)
  .superRefine((value, ctx) => {
    const problem = urlProblem(value);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });

function urlProblem(value: string): string | null {
  if (/[\u0000-\u0020\u007f]/.test(value)) return "must not contain spaces or control characters";
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return "must be an absolute http:// or https:// URL";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return "must be an http:// or https:// URL";
  if (!url.hostname) return "must name a host";
  if (url.username || url.password) return "must not contain credentials (use the secret to sign deliveries)";
  if (url.hash) return "must not contain a fragment";
  return null;
}

const ActionsSchema = z
  .array(z.enum(NOTIFICATION_ACTIONS))
  .min(1, "must name at least one action")
  .max(NOTIFICATION_ACTIONS.length)
  .refine((actions) => new Set(actions).size === actions.length, "must not repeat an action");

/** HMAC key of the X-Berth-Signature-256 header, as for the YAML endpoints. */
const SecretSchema = z.string().min(16, "must be at least 16 characters").max(256, "must be at most 256 characters");

export const WebhookCreateSchema = z
  .object({
    url: UrlSchema,
    actions: ActionsSchema,
    secret: SecretSchema.nullable().default(null),
    enabled: z.boolean().default(true),
  })
  .strict();

/** A change: the secret is write-only, so leaving it out keeps the stored one and null removes it. */
export const WebhookUpdateSchema = z
  .object({
    url: UrlSchema,
    actions: ActionsSchema,
    secret: SecretSchema.nullable().optional(),
    enabled: z.boolean(),
  })
  .strict();

export type WebhookCreate = z.infer<typeof WebhookCreateSchema>;
export type WebhookUpdate = z.infer<typeof WebhookUpdateSchema>;

/** What the UI and the audit log show of a URL: no query string (it may carry a receiver's token). */
export function displayUrl(value: string): string {
  const url = new URL(value);
  return `${url.protocol}//${url.host}${url.pathname}${url.search ? "?…" : ""}`;
}
