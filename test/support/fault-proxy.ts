// A pass-through HTTP proxy in front of a real upstream registry, which a test can switch to answer with an
// error instead (429, 503) or to stop answering; it also counts what passed. It can also stand for a slow or
// unreliable link: pace blob bodies, cut the next one short, or flip a byte of it. The upstream stays real.
import http from "node:http";
import type { AddressInfo } from "node:net";

export type FaultMode = "pass" | 429 | 503;

export interface FaultProxy {
  url: string;
  mode: FaultMode;
  /** "METHOD /path" of every request received, in order. */
  requests: string[];
  /** Bytes per second for blob bodies (GET …/blobs/sha256:…); Infinity passes them through unpaced. */
  blobRate: number;
  /** When set, the next blob GET is cut off after this many bytes (an upstream dying mid-transfer). */
  cutNextBlobAfter: number | null;
  /** When set, the next blob GET has one byte flipped at this offset (an upstream serving corrupt content). */
  corruptNextBlobAt: number | null;
  /** Blob body bytes sent on while paced, cut or corrupted. */
  blobBytesSent: number;
  stop(): Promise<void>;
}

const PIECE = 64 * 1024;

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const agent = new http.Agent({ keepAlive: true });
  const proxy: FaultProxy = {
    url: "",
    mode: "pass",
    requests: [],
    blobRate: Infinity,
    cutNextBlobAfter: null,
    corruptNextBlobAt: null,
    blobBytesSent: 0,
    stop: async () => undefined,
  };
  const server = http.createServer((req, res) => {
    proxy.requests.push(`${req.method} ${req.url}`);
    if (proxy.mode !== "pass") {
      res.writeHead(proxy.mode, { "content-type": "application/json", "retry-after": "1" });
      res.end(JSON.stringify({ errors: [{ code: proxy.mode === 429 ? "TOOMANYREQUESTS" : "UNAVAILABLE", message: "injected" }] }));
      return;
    }
    const isBlob = req.method === "GET" && /\/blobs\/sha256:/.test(req.url ?? "");
    const cutAfter = isBlob ? proxy.cutNextBlobAfter : null;
    const corruptAt = isBlob ? proxy.corruptNextBlobAt : null;
    if (isBlob) proxy.cutNextBlobAfter = proxy.corruptNextBlobAt = null;
    const shaped = isBlob && (Number.isFinite(proxy.blobRate) || cutAfter !== null || corruptAt !== null);
    const upstream = http.request(`${target}${req.url}`, { method: req.method, headers: { ...req.headers, host: new URL(target).host }, agent }, async (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      if (!shaped) return void up.pipe(res);
      let sent = 0;
      try {
        for await (const chunk of up as AsyncIterable<Buffer>) {
          for (let i = 0; i < chunk.length; i += PIECE) {
            const piece = Buffer.from(chunk.subarray(i, i + PIECE));
            if (cutAfter !== null && sent + piece.length > cutAfter) {
              res.destroy();
              up.destroy();
              return;
            }
            if (corruptAt !== null && corruptAt >= sent && corruptAt < sent + piece.length) piece[corruptAt - sent] ^= 0xff;
            if (!res.write(piece)) await new Promise((resolve) => res.once("drain", resolve));
            sent += piece.length;
            proxy.blobBytesSent += piece.length;
            // Read at each piece, so a test can slow down or speed up a transfer under way.
            if (Number.isFinite(proxy.blobRate)) await new Promise((resolve) => setTimeout(resolve, (piece.length / proxy.blobRate) * 1000));
          }
        }
        res.end();
      } catch {
        res.destroy();
      }
    });
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.stop = async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    agent.destroy();
  };
  return proxy;
}
