import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { BlockList, isIP } from "node:net";
import type { TLSSocket } from "node:tls";

/**
 * Who is calling and how they reached us. Behind a reverse proxy the socket's peer is the proxy, so the
 * client's address, the scheme and the host come from X-Forwarded-For/-Proto/-Host — but only when the peer
 * is a configured trusted proxy; anyone else could send those headers to spoof an address (and dodge rate
 * limits, or fake the audit log).
 *
 * Not express's `trust proxy` (proxy-addr): it would take a garbage hop in X-Forwarded-For for the client's
 * address (we stop at the last readable hop), does not read the "1.2.3.4:5" / "[::1]:80" forms some proxies
 * write, and knows neither the `private` and `any` keywords of `trustedProxies` nor X-Forwarded-Host checks.
 */
export interface ClientInfo {
  /** The client's IP address (the first untrusted hop, walking X-Forwarded-For from our side). */
  ip: string;
  proto: "http" | "https";
  /** Host (and port) the client addressed. */
  host: string;
  /** How clients reach Berth: the configured external URL, else proto://host. No trailing slash. */
  origin: string;
  /** A random id for this request (also sent back as X-Request-Id). */
  requestId: string;
}

export class TrustedProxies {
  private readonly list = new BlockList();
  private readonly any: boolean;
  readonly empty: boolean;

  constructor(specs: readonly string[]) {
    this.any = specs.includes("any");
    this.empty = specs.length === 0;
    for (const spec of specs) {
      if (spec === "any") continue;
      if (spec === "loopback") {
        this.list.addSubnet("127.0.0.0", 8, "ipv4");
        this.list.addAddress("::1", "ipv6");
      } else if (spec === "private") {
        this.list.addSubnet("10.0.0.0", 8, "ipv4");
        this.list.addSubnet("172.16.0.0", 12, "ipv4");
        this.list.addSubnet("192.168.0.0", 16, "ipv4");
        this.list.addSubnet("fc00::", 7, "ipv6");
      } else {
        const [address, bits] = spec.split("/");
        const family = isIP(address) === 6 ? "ipv6" : "ipv4";
        if (bits === undefined) this.list.addAddress(address, family);
        else this.list.addSubnet(address, Number(bits), family);
      }
    }
  }

  trusts(address: string): boolean {
    if (this.empty) return false;
    if (this.any) return true;
    const family = isIP(address);
    if (!family) return false;
    return this.list.check(address, family === 6 ? "ipv6" : "ipv4");
  }
}

const infos = new WeakMap<IncomingMessage, ClientInfo>();

/** Works out the request's ClientInfo and remembers it for clientInfo(req) (see app.ts). */
export function resolveClientInfo(req: IncomingMessage, proxies: TrustedProxies, externalUrl?: string): ClientInfo {
  const peer = normalizeAddress(req.socket.remoteAddress ?? "");
  const trustedPeer = proxies.trusts(peer);
  const proto = (trustedPeer && firstValue(req.headers["x-forwarded-proto"])?.toLowerCase()) || ownProto(req);
  const forwardedHost = trustedPeer ? firstValue(req.headers["x-forwarded-host"]) : undefined;
  const host = (forwardedHost && isHost(forwardedHost) ? forwardedHost : undefined) ?? hostHeader(req);
  const info: ClientInfo = {
    ip: trustedPeer ? forwardedClient(peer, req.headers["x-forwarded-for"], proxies) : peer,
    proto: proto === "https" ? "https" : "http",
    host,
    origin: externalUrl ?? `${proto === "https" ? "https" : "http"}://${host}`,
    requestId: randomUUID(),
  };
  infos.set(req, info);
  return info;
}

/** The request's ClientInfo; without a resolved one (no trusted proxies involved), straight from the socket. */
export function clientInfo(req: IncomingMessage): ClientInfo {
  let info = infos.get(req);
  if (!info) {
    const proto = ownProto(req);
    const host = hostHeader(req);
    info = { ip: normalizeAddress(req.socket.remoteAddress ?? ""), proto, host, origin: `${proto}://${host}`, requestId: randomUUID() };
    infos.set(req, info);
  }
  return info;
}

export function clientIp(req: IncomingMessage): string {
  return clientInfo(req).ip;
}

/** Walks X-Forwarded-For from the right (the hop nearest us), skipping trusted proxies. */
function forwardedClient(peer: string, header: string | string[] | undefined, proxies: TrustedProxies): string {
  const hops = (Array.isArray(header) ? header.join(",") : header ?? "")
    .split(",")
    .map((h) => normalizeAddress(h.trim()))
    .filter(Boolean);
  let client = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    if (!proxies.trusts(client)) break;
    if (!isIP(hops[i])) break; // garbage in the chain: stop at the last hop we could read
    client = hops[i];
  }
  return client;
}

/** "::ffff:10.0.0.1" → "10.0.0.1"; "[::1]:80" and "1.2.3.4:5" (as some proxies write them) → the address. */
export function normalizeAddress(address: string): string {
  let a = address;
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(a);
  if (bracketed) a = bracketed[1];
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(a)) a = a.slice(0, a.lastIndexOf(":"));
  if (a.toLowerCase().startsWith("::ffff:") && isIP(a.slice(7)) === 4) a = a.slice(7);
  return a;
}

function ownProto(req: IncomingMessage): "http" | "https" {
  return (req.socket as TLSSocket).encrypted ? "https" : "http";
}

function hostHeader(req: IncomingMessage): string {
  const host = req.headers.host;
  return host && isHost(host) ? host : "localhost";
}

function firstValue(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const first = value?.split(",")[0].trim();
  return first || undefined;
}

function isHost(value: string): boolean {
  return /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(value);
}
