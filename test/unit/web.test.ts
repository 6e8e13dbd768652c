// Pure pieces of the web UI's server side: manifest summaries, image config views, layer/history pairing,
// the session cookie, and the static file server's refusal to leave web/dist.
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { layerHistory, readImageConfig, summarizeManifest } from "../../src/web/image-info";
import { sessionCookie, sessionCookieHeader, clearedCookieHeader } from "../../src/http/session-cookie";
import express from "express";
import { WebStatic, webUi } from "../../src/web/static";

const d = (c: string) => `sha256:${c.repeat(64)}`;

describe("summarizeManifest", () => {
  test("an image: size is manifest + config + layers; foreign layers keep their urls", () => {
    const content = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: d("a"), size: 100 },
        layers: [
          { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: d("b"), size: 1000 },
          { mediaType: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", digest: d("c"), size: 50, urls: ["https://example.test/l"] },
        ],
      }),
    );
    const s = summarizeManifest("application/vnd.oci.image.manifest.v1+json", content);
    expect(s).toMatchObject({ kind: "image", size: content.length + 1150, configDigest: d("a"), configSize: 100 });
    expect(s.layers[1].urls).toEqual(["https://example.test/l"]);
  });

  test("an index: platforms, with BuildKit attestations told apart", () => {
    const content = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          { mediaType: "m", digest: d("1"), size: 10, platform: { os: "linux", architecture: "arm", variant: "v7" } },
          { mediaType: "m", digest: d("2"), size: 10, platform: { os: "unknown", architecture: "unknown" }, annotations: { "vnd.docker.reference.type": "attestation-manifest" } },
          { mediaType: "m", digest: "not-a-descriptor" },
        ],
      }),
    );
    const s = summarizeManifest("application/vnd.oci.image.index.v1+json", content);
    expect(s.kind).toBe("index");
    expect(s.size).toBeNull();
    expect(s.children.map((c) => [c.platform?.variant ?? null, c.attestation])).toEqual([
      ["v7", false],
      [null, true],
    ]);
  });

  test("broken or unknown manifests never crash the summary", () => {
    expect(summarizeManifest("application/vnd.oci.image.manifest.v1+json", Buffer.from("{nope")).kind).toBe("image");
    expect(summarizeManifest("application/x-unknown", Buffer.from("[]"))).toMatchObject({ kind: "other", layers: [], children: [] });
  });
});

describe("image config", () => {
  test("the docker inspect fields, tolerant of odd values", () => {
    const view = readImageConfig(
      Buffer.from(
        JSON.stringify({
          architecture: "arm64",
          os: "linux",
          config: { Entrypoint: ["/e"], Cmd: null, Env: ["A=1", 7], Labels: { a: "b" }, ExposedPorts: { "80/tcp": {}, "53/udp": {} }, Volumes: { "/data": {} }, User: "" },
          history: [{ created_by: "ADD x /" }, { created_by: "ENV A=1", empty_layer: true }, "junk"],
          rootfs: { diff_ids: [d("f")] },
        }),
      ),
    )!;
    expect(view).toMatchObject({
      architecture: "arm64",
      entrypoint: ["/e"],
      cmd: null,
      env: ["A=1"],
      labels: { a: "b" },
      exposedPorts: ["80/tcp", "53/udp"],
      volumes: ["/data"],
      user: null,
      diffIds: [d("f")],
    });
    expect(view.history).toHaveLength(2);
    expect(readImageConfig(Buffer.from("not json"))).toBeNull();
  });

  test("layers pair with the history steps that made them; empty steps have none", () => {
    const steps = [
      { created: null, createdBy: "ADD a", comment: null, emptyLayer: false },
      { created: null, createdBy: "CMD x", comment: null, emptyLayer: true },
      { created: null, createdBy: "RUN b", comment: null, emptyLayer: false },
    ];
    expect(layerHistory(["L1", "L2", "L3"], steps).map((r) => [r.layer, r.step?.createdBy ?? null])).toEqual([
      ["L1", "ADD a"],
      [null, "CMD x"],
      ["L2", "RUN b"],
      ["L3", null],
    ]);
  });
});

describe("session cookie", () => {
  test("is HttpOnly and SameSite=Strict, Secure over HTTPS, and parsed among other cookies", () => {
    expect(sessionCookieHeader("tok", 60, false)).toBe("berth_session=tok; Path=/; HttpOnly; SameSite=Strict; Max-Age=60");
    expect(sessionCookieHeader("tok", 60, true)).toMatch(/; Secure$/);
    expect(clearedCookieHeader(false)).toMatch(/^berth_session=; .*Max-Age=0$/);
    const req = (cookie?: string) => ({ headers: cookie === undefined ? {} : { cookie } }) as never;
    expect(sessionCookie(req("a=1; berth_session=abc; b=2"))).toBe("abc");
    expect(sessionCookie(req("berth_session_x=abc"))).toBeNull();
    expect(sessionCookie(req())).toBeNull();
  });
});

describe("static files", () => {
  let root: string;
  let server: Server;
  let base: string;

  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), "berth-web-"));
    await mkdir(path.join(root, "dist", "assets"), { recursive: true });
    await writeFile(path.join(root, "dist", "index.html"), '<div id="app"></div>');
    await writeFile(path.join(root, "dist", "assets", "app-1.js"), "console.log(1)");
    await writeFile(path.join(root, "secret.txt"), "outside");
    const app = express();
    app.use(webUi(null, new WebStatic(path.join(root, "dist"))));
    app.use((_req, res) => void res.writeHead(418).end());
    server = createServer(app);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await rm(root, { recursive: true, force: true });
  });

  test("assets are immutable, app routes get index.html, and nothing outside dist is served", async () => {
    const asset = await fetch(`${base}/assets/app-1.js`);
    expect(asset.headers.get("cache-control")).toContain("immutable");
    expect(asset.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect((await fetch(`${base}/repositories/team/app.v2`)).status).toBe(200);
    const route = await fetch(`${base}/repositories/team/app`);
    expect(await route.text()).toBe('<div id="app"></div>');
    expect(route.headers.get("cache-control")).toBe("no-cache");
    expect(route.headers.get("x-frame-options")).toBe("DENY");
    for (const evil of ["/../secret.txt", "/%2e%2e/secret.txt", "/assets/..%2f..%2fsecret.txt"]) {
      const res = await new Promise<{ status: number; body: string }>((resolve) => {
        const r = require("node:http").request(`${base}${evil}`, (res: import("node:http").IncomingMessage) => {
          let body = "";
          res.on("data", (c: Buffer) => (body += c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        r.end();
      });
      expect(res.body).not.toContain("outside");
    }
    expect((await fetch(`${base}/assets/missing.js`)).status).toBe(404);
    expect((await fetch(`${base}/api/v1/x`)).status).toBe(418);
    expect((await fetch(`${base}/v2/`)).status).toBe(418);
    expect((await fetch(`${base}/v3/`)).status).toBe(418);
    expect((await fetch(`${base}/favicon.svg`)).status).toBe(404);
  });
});
