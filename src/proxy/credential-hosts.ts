/**
 * Registries whose token service lives on another host, so that their upstreams work without
 * configuration: Docker Hub's registry-1.docker.io names auth.docker.io as its realm, GitLab's registry
 * names gitlab.com.
 */
const KNOWN_TOKEN_HOSTS: Readonly<Record<string, readonly string[]>> = {
  "registry-1.docker.io": ["auth.docker.io"],
  "registry.gitlab.com": ["gitlab.com"],
};

/**
 * The hosts an upstream's credentials may be sent to: its own host (host and port, as in its URL), the
 * token host known for it, and those configured in its credentialHosts. An upstream reached over HTTPS
 * never has them sent over plain HTTP, whatever host asks.
 */
export class CredentialHosts {
  private readonly hosts: readonly string[];
  private readonly secure: boolean;

  constructor(upstreamUrl: string, configured: readonly string[]) {
    const own = new URL(upstreamUrl);
    this.secure = own.protocol === "https:";
    this.hosts = [own.host, ...(KNOWN_TOKEN_HOSTS[own.host] ?? []), ...configured];
  }

  allows(target: URL): boolean {
    if (target.protocol !== "https:" && (this.secure || target.protocol !== "http:")) return false;
    // Each entry read as the target's scheme would: "auth.example:443" and "auth.example" are one https host.
    return this.hosts.some((host) => new URL(`${target.protocol}//${host}`).host === target.host);
  }
}
