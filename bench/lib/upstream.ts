// The mirror suite's upstream: one plain docker-registry on 127.0.0.1 shared by every mirror target of a
// run (so both sides mirror the same registry, serving the same bytes from the same disk), and per target a
// counting pass-through proxy in front of it (test/support/fault-proxy.ts): each target's upstream traffic
// is counted on its own, and the images a case pushes straight to the registry are not counted at all.
import { startCncfRegistry, type CncfRegistry } from "../../test/e2e/support/cncf-registry";
import { startFaultProxy } from "../../test/support/fault-proxy";

export interface TargetUpstream {
  /** "127.0.0.1:PORT" of the upstream registry itself: cases push the images to pull here. */
  host: string;
  /** "METHOD /path" of every request the target sent upstream, in order. */
  requests: string[];
}

/** What one measured part asked the upstream for. */
export interface UpstreamCount {
  /** Distinct blobs of the image(s) pulled. */
  blobs: number;
  /** GET requests for those blobs, all together. */
  blobGets: number;
  /** GET requests for the most fetched blob (1 = every blob came from upstream once). */
  maxGetsPerBlob: number;
  /** Everything else: manifest and tag lookups, HEADs. */
  otherRequests: number;
}

/** Lazily started shared upstream of a run; stop() is a no-op when it never started. */
export function upstreamProvider() {
  let server: Promise<CncfRegistry> | undefined;
  return {
    get: (): Promise<{ host: string }> => (server ??= startCncfRegistry({ logLevel: "warn", accessLog: false })),
    async stop(): Promise<void> {
      if (server) await (await server).stop();
    },
  };
}

/** A counting proxy in front of the upstream for one target: its url is what the target mirrors. */
export async function countingFront(upstream: { host: string }): Promise<{ url: string; upstream: TargetUpstream; stop(): Promise<void> }> {
  const proxy = await startFaultProxy(`http://${upstream.host}`);
  return { url: proxy.url, upstream: { host: upstream.host, requests: proxy.requests }, stop: () => proxy.stop() };
}

/** Counts the requests in `requests` (one measured part's slice) against the blobs that were pulled. */
export function countUpstream(requests: readonly string[], blobDigests: readonly string[]): UpstreamCount {
  const gets = new Map(blobDigests.map((d) => [d, 0]));
  let other = 0;
  for (const r of requests) {
    const blob = /^GET \/v2\/.+\/blobs\/(sha256:[0-9a-f]{64})/.exec(r)?.[1];
    if (blob !== undefined && gets.has(blob)) gets.set(blob, gets.get(blob)! + 1);
    else other++;
  }
  const counts = [...gets.values()];
  return { blobs: counts.length, blobGets: counts.reduce((a, b) => a + b, 0), maxGetsPerBlob: Math.max(0, ...counts), otherRequests: other };
}
