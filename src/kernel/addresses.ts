import { BlockList, isIP } from "node:net";

/**
 * Where an IP address leads, as far as deciding whether Berth may connect there on someone else's word (an
 * upstream's redirect or token realm): the public internet, or one of the ranges an attacker would aim a
 * server-side request at — this host, the private network, the cloud metadata service (link-local), or
 * addresses no request should go to at all.
 */
export type AddressScope = "public" | "loopback" | "private" | "link-local" | "unspecified" | "multicast" | "reserved";

type Range = readonly [scope: Exclude<AddressScope, "public">, network: string, prefix: number];

/** IANA's special-purpose IPv4 ranges (RFC 6890 and successors) that are not reachable public unicast. */
const IPV4: readonly Range[] = [
  ["unspecified", "0.0.0.0", 8],
  ["private", "10.0.0.0", 8],
  ["private", "100.64.0.0", 10], // carrier-grade NAT
  ["loopback", "127.0.0.0", 8],
  ["link-local", "169.254.0.0", 16], // 169.254.169.254: the metadata service of every major cloud
  ["private", "172.16.0.0", 12],
  ["reserved", "192.0.0.0", 24],
  ["reserved", "192.0.2.0", 24],
  ["private", "192.168.0.0", 16],
  ["private", "198.18.0.0", 15], // benchmarking, used inside data centres
  ["reserved", "198.51.100.0", 24],
  ["reserved", "203.0.113.0", 24],
  ["multicast", "224.0.0.0", 4],
  ["reserved", "240.0.0.0", 4], // includes the broadcast address
];

/** The same for IPv6. IPv4-mapped addresses (::ffff:a.b.c.d) match the IPv4 ranges: BlockList maps them. */
const IPV6: readonly Range[] = [
  ["unspecified", "::", 128],
  ["loopback", "::1", 128],
  ["reserved", "::", 96], // IPv4-compatible (deprecated); :: and ::1 are matched above first
  ["reserved", "::ffff:0:0:0", 96], // IPv4-translated (RFC 6145)
  ["reserved", "100::", 64], // discard-only
  ["private", "64:ff9b:1::", 48], // local-use NAT64
  ["reserved", "2001::", 23], // IETF protocol assignments, Teredo among them
  ["reserved", "2001:db8::", 32],
  ["private", "fc00::", 7], // unique local
  ["link-local", "fe80::", 10],
  ["private", "fec0::", 10], // site-local (deprecated)
  ["multicast", "ff00::", 8],
];

/**
 * IPv6 prefixes that carry an IPv4 address a gateway may route to: the NAT64 well-known prefix (RFC 6052,
 * 64:ff9b::a.b.c.d) and 6to4 (2002:aabb:ccdd::/48). An embedded private address is as private as itself.
 */
const EMBEDDING: ReadonlyArray<{ at: (hi: string, lo: string) => string; prefix: number }> = [
  { at: (hi, lo) => `64:ff9b::${hi}:${lo}`, prefix: 96 },
  { at: (hi, lo) => `2002:${hi}:${lo}::`, prefix: 16 },
];

function embedded(): Range[] {
  const out: Range[] = [];
  for (const [scope, network, prefix] of IPV4) {
    const [a, b, c, d] = network.split(".").map(Number);
    const hex = (x: number, y: number) => ((x << 8) | y).toString(16);
    for (const e of EMBEDDING) out.push([scope, e.at(hex(a, b), hex(c, d)), e.prefix + prefix]);
  }
  return out;
}

/** Checked in this order, so that the first match names the scope (::1 is loopback before ::/96 is reserved). */
const ORDER: ReadonlyArray<Exclude<AddressScope, "public">> = ["unspecified", "loopback", "link-local", "private", "multicast", "reserved"];

const LISTS = ORDER.map((scope) => {
  const list = new BlockList();
  for (const [s, network, prefix] of IPV4) if (s === scope) list.addSubnet(network, prefix, "ipv4");
  for (const [s, network, prefix] of [...IPV6, ...embedded()]) if (s === scope) list.addSubnet(network, prefix, "ipv6");
  return { scope, list };
});

/** "[::1]" → "::1": the host of a URL or host:port without the brackets an IPv6 literal is written in there. */
export function unbracketHost(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/** The scope of an IP address (IPv4, IPv6, IPv4-mapped IPv6; an IPv6 zone index is ignored). */
export function addressScope(address: string): AddressScope {
  const ip = unbracketHost(address).replace(/%.*$/, "");
  const family = isIP(ip);
  if (!family) throw new Error(`not an IP address: ${address}`);
  return LISTS.find(({ list }) => list.check(ip, family === 4 ? "ipv4" : "ipv6"))?.scope ?? "public";
}

/**
 * The scope a host name or literal address in a URL certainly has without asking DNS: an IP literal's own,
 * loopback for `localhost` and its subdomains (RFC 6761 keeps them on this host), null for any other name.
 */
export function literalHostScope(hostname: string): AddressScope | null {
  const host = unbracketHost(hostname).toLowerCase().replace(/\.$/, "");
  if (isIP(host.replace(/%.*$/, ""))) return addressScope(host);
  return host === "localhost" || host.endsWith(".localhost") ? "loopback" : null;
}
