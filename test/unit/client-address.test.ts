// One function decides the client's address (src/http/client-info.ts: through trusted proxies only);
// the listener (src/ops/listeners.ts) reads the socket's peer to cap connections per address before any
// request exists. Nothing else may read the socket's address: whatever did would throttle, audit or limit
// by the proxy's address behind a reverse proxy.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

const SRC = path.resolve(__dirname, "../../src");
const ALLOWED = new Set(["http/client-info.ts", "ops/listeners.ts"]);
const SOCKET_ADDRESS = /remoteAddress|remoteFamily|remotePort|socket\??\.remote|\breq\??\.ips?\b|\brequest\??\.ips?\b|\.address\(\)\.address|["']trust proxy["']/;

/** Lines of `source` that read a socket's peer address. */
export function socketAddressReads(file: string, source: string): string[] {
  return source
    .split("\n")
    .map((line, i) => ({ line, at: `${file}:${i + 1}` }))
    .filter(({ line }) => SOCKET_ADDRESS.test(line))
    .map(({ at, line }) => `${at}: ${line.trim()}`);
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === "generated" ? [] : sources(full);
    return /\.tsx?$/.test(e.name) ? [full] : [];
  });
}

describe("the client address", () => {
  it("is read from the socket only by client-info and the listener", () => {
    const found = sources(SRC)
      .map((full) => path.relative(SRC, full).split(path.sep).join("/"))
      .filter((file) => !ALLOWED.has(file))
      .flatMap((file) => socketAddressReads(file, readFileSync(path.join(SRC, file), "utf8")));
    expect(found).toEqual([]);
  });

  it("the check catches the usual ways of reading it", () => {
    for (const line of ["const ip = req.socket.remoteAddress;", "log(req.ip)", "ctx.req.socket?.remoteAddress", "app.set('trust proxy', true)", "req.ips[0]"]) {
      expect(socketAddressReads("x.ts", line)).toHaveLength(1);
    }
    expect(socketAddressReads("x.ts", "const ip = clientInfo(req).ip;")).toEqual([]);
  });
});
