import { createHash } from "node:crypto";
import { startTestRegistry, type TestRegistry } from "../support/registry";

describe.each(["postgres", "embedded"] as const)("smoke on %s", (database) => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startTestRegistry({ database });
  });
  afterAll(() => registry?.stop());

  it("pushes and pulls a blob and manifest", async () => {
    const base = await fetch(`${registry.url}/v2/`);
    expect(base.status).toBe(200);
    const blob = Buffer.from("hello");
    const digest = `sha256:${createHash("sha256").update(blob).digest("hex")}`;
    const put = await fetch(`${registry.url}/v2/a/b/blobs/uploads/?digest=${digest}`, { method: "POST", body: blob });
    expect(put.status).toBe(201);
    const get = await fetch(`${registry.url}/v2/a/b/blobs/${digest}`);
    expect(Buffer.from(await get.arrayBuffer()).toString()).toBe("hello");
  });
});
