// A pass-through HTTP proxy in front of a real upstream registry, which a test can switch to answer with an
// error instead (429, 503) or to stop answering; it also counts what passed. The upstream stays real.
import http from "node:http";
import type { AddressInfo } from "node:net";

export type FaultMode = "pass" | 429 | 503;

export interface FaultProxy {
  url: string;
  mode: FaultMode;
  /** "METHOD /path" of every request received, in order. */
  requests: string[];
  stop(): Promise<void>;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const agent = new http.Agent({ keepAlive: true });
  const proxy: FaultProxy = { url: "", mode: "pass", requests: [], stop: async () => undefined };
  const server = http.createServer((req, res) => {
    proxy.requests.push(`${req.method} ${req.url}`);
    if (proxy.mode !== "pass") {
      res.writeHead(proxy.mode, { "content-type": "application/json", "retry-after": "1" });
      res.end(JSON.stringify({ errors: [{ code: proxy.mode === 429 ? "TOOMANYREQUESTS" : "UNAVAILABLE", message: "injected" }] }));
      return;
    }
    const upstream = http.request(`${target}${req.url}`, { method: req.method, headers: { ...req.headers, host: new URL(target).host }, agent }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
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
