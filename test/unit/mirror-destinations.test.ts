// The rules behind where a mirror may go for an upstream: which addresses are private, which hosts may
// receive its credentials, and what the configuration accepts. The integration test of the same name
// drives them through a hostile upstream.
import { ConfigError, loadConfig, parseConfig } from "../../src/config";
import { addressScope, literalHostScope } from "../../src/kernel/addresses";
import { CredentialHosts } from "../../src/proxy/credential-hosts";
import { NetworkGuard } from "../../src/proxy/network-guard";

describe("address scopes", () => {
  it.each([
    ["8.8.8.8", "public"],
    ["1.1.1.1", "public"],
    ["2606:4700:4700::1111", "public"],
    ["64:ff9b::808:808", "public"], // NAT64 of a public address
    ["127.0.0.1", "loopback"],
    ["127.255.255.254", "loopback"],
    ["::1", "loopback"],
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:7f00:1", "loopback"],
    ["2002:7f00:1::", "loopback"], // 6to4 around 127.0.0.1
    ["10.0.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["100.64.0.1", "private"],
    ["fd12:3456::1", "private"],
    ["::ffff:10.1.2.3", "private"],
    ["169.254.169.254", "link-local"],
    ["::ffff:169.254.169.254", "link-local"],
    ["64:ff9b::a9fe:a9fe", "link-local"], // NAT64 of the metadata address
    ["fe80::1", "link-local"],
    ["fe80::1%eth0", "link-local"],
    ["0.0.0.0", "unspecified"],
    ["0.1.2.3", "unspecified"],
    ["::", "unspecified"],
    ["224.0.0.1", "multicast"],
    ["ff02::1", "multicast"],
    ["255.255.255.255", "reserved"],
    ["192.0.2.1", "reserved"],
    ["2001:db8::1", "reserved"],
    ["::7f00:1", "reserved"], // IPv4-compatible, deprecated
  ])("%s is %s", (address, scope) => {
    expect(addressScope(address)).toBe(scope);
  });

  it("knows localhost names and IP literals from a URL without DNS, and nothing else", () => {
    expect(literalHostScope("localhost")).toBe("loopback");
    expect(literalHostScope("registry.localhost")).toBe("loopback");
    expect(literalHostScope("LOCALHOST.")).toBe("loopback");
    expect(literalHostScope("[::1]")).toBe("loopback");
    expect(literalHostScope(new URL("http://0x7f000001/").hostname)).toBe("loopback");
    expect(literalHostScope(new URL("http://2130706433/").hostname)).toBe("loopback");
    expect(literalHostScope("registry-1.docker.io")).toBeNull();
  });
});

describe("network guard", () => {
  const guard = (url: string, allowPrivateNetworks = false) => new NetworkGuard({ name: "up", url, allowPrivateNetworks });

  it("allows the upstream's own literal address, and nothing else private, by default", () => {
    const g = guard("http://127.0.0.1:5001");
    expect(g.checkUrl(new URL("http://127.0.0.1:5001/v2/x"))).toBeNull();
    expect(g.checkUrl(new URL("http://127.0.0.1:5002/v2/x"))?.message).toMatch(/127\.0\.0\.1 for upstream up: it is a loopback address; set allowPrivateNetworks/);
    expect(g.checkUrl(new URL("https://127.0.0.1:5001/v2/x"))).not.toBeNull();
    expect(g.check("name.example", "10.0.0.1")?.message).toMatch(/^refused to connect to name\.example \(10\.0\.0\.1\)/);
    expect(g.check("name.example", "93.184.216.34")).toBeNull();
  });

  it("does not trust an upstream's host name: its answers are checked like any other", () => {
    expect(guard("https://harbor.internal").check("harbor.internal", "10.0.0.5")).not.toBeNull();
    expect(guard("https://harbor.internal", true).check("harbor.internal", "10.0.0.5")).toBeNull();
  });

  it("opens loopback and private with allowPrivateNetworks, never link-local, unspecified or multicast", () => {
    const g = guard("https://registry.example", true);
    expect(g.check("a", "127.0.0.1")).toBeNull();
    expect(g.check("a", "192.168.0.10")).toBeNull();
    expect(g.check("a", "fd00::1")).toBeNull();
    for (const address of ["169.254.169.254", "::ffff:169.254.169.254", "fe80::1", "0.0.0.0", "::", "224.0.0.1"]) {
      expect({ address, refused: g.check("a", address)?.message }).toEqual({ address, refused: expect.not.stringContaining("allowPrivateNetworks") });
    }
  });
});

describe("credential hosts", () => {
  it("are the upstream's own host and port, and those configured for it", () => {
    const hosts = new CredentialHosts("http://127.0.0.1:5001", ["127.0.0.1:6001"]);
    expect(hosts.allows(new URL("http://127.0.0.1:5001/token"))).toBe(true);
    expect(hosts.allows(new URL("http://127.0.0.1:6001/token"))).toBe(true);
    expect(hosts.allows(new URL("http://127.0.0.1:6002/token"))).toBe(false);
    expect(hosts.allows(new URL("http://attacker.example/token"))).toBe(false);
    expect(hosts.allows(new URL("ftp://127.0.0.1:5001/token"))).toBe(false);
  });

  it("include auth.docker.io for Docker Hub, over HTTPS only", () => {
    const hub = new CredentialHosts("https://registry-1.docker.io", []);
    expect(hub.allows(new URL("https://auth.docker.io/token"))).toBe(true);
    expect(hub.allows(new URL("https://auth.docker.io:443/token"))).toBe(true);
    expect(hub.allows(new URL("http://auth.docker.io/token"))).toBe(false);
    expect(hub.allows(new URL("https://auth.docker.io.attacker.example/token"))).toBe(false);
    expect(hub.allows(new URL("https://registry-1.docker.io:8443/token"))).toBe(false);
    expect(new CredentialHosts("https://ghcr.io", []).allows(new URL("https://auth.docker.io/token"))).toBe(false);
  });

  it("match a configured host without a port on the realm's default port", () => {
    const hosts = new CredentialHosts("https://registry.example", ["auth.example", "Other.Example:8443"]);
    expect(hosts.allows(new URL("https://auth.example/token"))).toBe(true);
    expect(hosts.allows(new URL("https://auth.example:8443/token"))).toBe(false);
    expect(hosts.allows(new URL("https://other.example:8443/token"))).toBe(true);
  });
});

describe("mirror destination settings", () => {
  const upstream = (extra: Record<string, unknown>) => ({ mirror: { upstreams: [{ name: "up", url: "https://registry.example", prefix: "", ...extra }] } });

  it("default to no extra credential hosts and no private networks", () => {
    expect(parseConfig(upstream({})).mirror.upstreams[0]).toMatchObject({ credentialHosts: [], allowPrivateNetworks: false });
  });

  it("refuse a credential host that is not a host or host:port", () => {
    for (const bad of ["https://auth.example", "auth.example/token", "user@auth.example", ""]) {
      expect(() => parseConfig(upstream({ credentialHosts: [bad] }))).toThrow(/credentialHosts\.0: must be a host or host:port/);
    }
    expect(parseConfig(upstream({ credentialHosts: ["auth.example:8443", "[::1]:5000"] })).mirror.upstreams[0].credentialHosts).toHaveLength(2);
  });

  it.each(["http://169.254.169.254", "http://0.0.0.0:5000", "http://[fe80::1]:5000", "http://224.0.0.1"])("refuse the upstream URL %s at start-up", (url) => {
    expect(() => parseConfig(upstream({ url }))).toThrow(ConfigError);
    expect(() => parseConfig(upstream({ url }))).toThrow(/mirror\.upstreams\.0\.url: .* is a (link-local|unspecified|multicast) address, which Berth never connects to/);
  });

  it("accept a loopback or private upstream URL as written", () => {
    expect(parseConfig(upstream({ url: "http://127.0.0.1:5001" })).mirror.upstreams[0].allowPrivateNetworks).toBe(false);
    expect(parseConfig(upstream({ url: "http://10.0.0.5" })).mirror.upstreams).toHaveLength(1);
  });

  it("read BERTH_MIRROR_ALLOW_PRIVATE_NETWORKS for the upstream of BERTH_MIRROR_UPSTREAM", () => {
    expect(loadConfig({ BERTH_MIRROR_UPSTREAM: "https://harbor.internal" }).mirror.upstreams[0].allowPrivateNetworks).toBe(false);
    expect(loadConfig({ BERTH_MIRROR_UPSTREAM: "https://harbor.internal", BERTH_MIRROR_ALLOW_PRIVATE_NETWORKS: "true" }).mirror.upstreams[0].allowPrivateNetworks).toBe(true);
    expect(() => loadConfig({ BERTH_MIRROR_UPSTREAM: "https://harbor.internal", BERTH_MIRROR_ALLOW_PRIVATE_NETWORKS: "maybe" })).toThrow(/BERTH_MIRROR_ALLOW_PRIVATE_NETWORKS: must be true or false/);
  });
});
