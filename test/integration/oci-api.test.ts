import { createHash } from "node:crypto";
import { startTestRegistry, type TestRegistry } from "../support/registry";

describe.each(["postgres"] as const)("dbg %s", (database) => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startTestRegistry({ database });
  }, 120_000);
  afterAll(() => registry?.stop());

  it("base", async () => {
    const t = Date.now();
    const blob = Buffer.from("hello");
    const digest = `sha256:${createHash("sha256").update(blob).digest("hex")}`;
    const p = await fetch(`${registry.url}/v2/a/b/blobs/uploads/?digest=${digest}`, { method: "POST", body: blob, signal: AbortSignal.timeout(10000) });
    console.log("post", p.status, Date.now() - t, await p.text());
  });
});
