import type { RepositoryName } from "../kernel/names";
import { projectOf } from "../auth/principal";
import type { MirrorRoute, MirrorRouter } from "./mirror-router";

/**
 * Decides, per repository name, whether a read may go to an upstream: names under an upstream's prefix
 * always; other names through the default upstream unless a local project owns them (so private local
 * names never leak to Docker Hub).
 */
export class MirrorRouting {
  private readonly localCache = new Map<string, { local: boolean; until: number }>();

  constructor(
    readonly router: MirrorRouter,
    private readonly isLocalProject: (project: string) => Promise<boolean>,
  ) {}

  async route(repository: RepositoryName): Promise<MirrorRoute | null> {
    const prefixed = this.router.prefixedRoute(repository);
    if (prefixed) return prefixed.route;
    const fallback = this.router.defaultRoute(repository);
    if (!fallback) return null;
    return (await this.isLocal(projectOf(repository))) ? null : fallback;
  }

  /**
   * Whether the name belongs to the mirror rather than to local content: under an upstream's prefix (even a
   * denied one), or served by the default upstream. Such names take no pushes: a push would shadow the
   * upstream's image for everyone. (Create a local project first to push under a name the default upstream
   * would otherwise serve.)
   */
  async isMirrored(repository: string): Promise<boolean> {
    if (this.router.prefixedRoute(repository)) return true;
    if (!this.router.defaultRoute(repository)) return false;
    return !(await this.isLocal(projectOf(repository)));
  }

  private async isLocal(project: string): Promise<boolean> {
    const cached = this.localCache.get(project);
    if (cached && cached.until > Date.now()) return cached.local;
    const local = await this.isLocalProject(project);
    if (this.localCache.size > 10_000) this.localCache.clear();
    this.localCache.set(project, { local, until: Date.now() + 10_000 });
    return local;
  }
}
