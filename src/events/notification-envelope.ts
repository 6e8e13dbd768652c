import { createHmac } from "node:crypto";
import type { BerthEvent } from "./event-bus";
import { isRegistryAction, type RegistryAction } from "./vocabulary";

/** The media type of the CNCF registry's notification envelope, which Berth's payloads follow. */
export const ENVELOPE_MEDIA_TYPE = "application/vnd.docker.distribution.events.v1+json";

/** The header carrying `sha256=<hex HMAC-SHA256 of the raw body, keyed with the endpoint's secret>`. */
export const SIGNATURE_HEADER = "X-Berth-Signature-256";

/** One event as the CNCF registry shapes it (`{"events": [...]}` is the envelope). */
export interface NotificationEvent {
  id: string;
  timestamp: string;
  /** "test": what the send-test button of a project webhook delivers. */
  action: RegistryAction | "test";
  target: {
    mediaType?: string;
    size?: number;
    length?: number;
    digest?: string;
    repository: string;
    url?: string;
    tag?: string;
  };
  request: { id: string; addr: string; host: string; method: string; useragent: string };
  actor: { name?: string };
  source: { addr: string; instanceID: string };
}

export interface EnvelopeSource {
  /** host:port of this instance. */
  addr: string;
  /** Random per process start. */
  instanceID: string;
}

const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/**
 * A recorded push, pull or delete — from /v2 or the web UI alike — as a notification event; null for
 * anything else (logins, admin actions, GC runs, failures): those go to the audit log only.
 */
export function toNotificationEvent(event: BerthEvent, source: EnvelopeSource): NotificationEvent | null {
  if (!isRegistryAction(event.action)) return null;
  if (event.success === false || !event.repository) return null;
  const detail = event.detail as { digest?: unknown; mediaType?: unknown; size?: unknown; target?: unknown };
  const reference = event.reference ?? undefined;
  const isDigest = reference !== undefined && DIGEST.test(reference);
  const digest = typeof detail.digest === "string" ? detail.digest : isDigest ? reference : undefined;
  const size = typeof detail.size === "number" ? detail.size : undefined;
  const kind = detail.target === "blob" ? "blobs" : "manifests";
  const origin = event.request?.origin;
  return {
    id: event.id,
    timestamp: event.timestamp.toISOString(),
    action: event.action,
    target: {
      ...(typeof detail.mediaType === "string" ? { mediaType: detail.mediaType } : {}),
      ...(size !== undefined ? { size, length: size } : {}),
      ...(digest ? { digest } : {}),
      repository: event.repository,
      ...(origin && digest ? { url: `${origin}/v2/${event.repository}/${kind}/${digest}` } : {}),
      ...(reference !== undefined && !isDigest ? { tag: reference } : {}),
    },
    request: {
      id: event.request?.id ?? "",
      addr: event.request?.addr ?? event.actor.address,
      host: event.request?.host ?? "",
      method: event.request?.method ?? "",
      useragent: event.request?.useragent ?? "",
    },
    actor: event.actor.kind === "anonymous" ? {} : { name: event.actor.name },
    source,
  };
}

/** `sha256=<hex>`: what receivers recompute over the raw body with the shared secret and compare. */
export function signBody(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}
