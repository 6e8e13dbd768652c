// The README's screens, taken in a real headless Chromium at 1440×900 from a registry built as a team would
// fill it (projects with quotas, images and a multi-platform index pushed by skopeo, a tag moved to leave an
// untagged manifest, a GC dry run). Every run walks the pages and checks what each screen must show; only
// with BERTH_UPDATE_SCREENSHOTS=1 are the PNGs under docs/images/ rewritten, so CI never touches tracked files.
import { stat } from "node:fs/promises";
import path from "node:path";
import { startTestRegistry, type TestRegistry } from "../support/registry";
import { api, login, type Session } from "../support/web-client";
import { launchBrowser, type Browser } from "./support/browser";
import { tinyImage, twoPlatformIndex, writeOciLayout, type ImageSpec } from "./support/oci-layout";
import { makeTempDir, removeTree } from "./support/process";
import { dockerRef, skopeoCopy } from "./support/skopeo";
import { requireBinaries } from "./support/tools";

jest.setTimeout(240_000);

const PASSWORD = "admin-pass-1";
const CREDS = `admin:${PASSWORD}`;
const UPDATE = process.env.BERTH_UPDATE_SCREENSHOTS === "1";
const IMAGES = path.resolve("docs/images");
/** The README links these; each stays small enough to keep the repository light. */
const MAX_BYTES = 150 * 1024;

let registry: TestRegistry;
let browser: Browser;
let work: string;
let admin: Session;

const service = (name: string, version: string, sizeKb: number): ImageSpec => ({
  layers: [
    { comment: "ADD rootfs /", entries: [{ type: "dir", path: "etc" }, { type: "file", path: "etc/os-release", content: { kind: "bytes", data: "NAME=berth-demo\n" } }] },
    { comment: `COPY ${name} /usr/local/bin/${name}`, entries: [{ type: "dir", path: "srv" }, { type: "file", path: `srv/${name}`, content: { kind: "random", size: sizeKb * 1024, seed: `${name}-${version}` } }] },
  ],
  config: {
    Entrypoint: [`/usr/local/bin/${name}`],
    Env: ["PATH=/usr/local/bin:/bin"],
    Labels: { "org.opencontainers.image.title": name, "org.opencontainers.image.version": version },
  },
});

async function push(spec: ImageSpec | ReturnType<typeof twoPlatformIndex>, repo: string, tag: string, all = false): Promise<void> {
  const layout = await writeOciLayout(path.join(work, `${repo.replace(/\//g, "_")}-${tag}`), tag, spec);
  await skopeoCopy(layout.ref, dockerRef(registry.host, repo, tag), { destCreds: CREDS, all });
}

beforeAll(async () => {
  requireBinaries("skopeo", "chromium");
  work = await makeTempDir("berth-e2e-screens");
  registry = await startTestRegistry({ config: { auth: { enabled: true, adminPassword: PASSWORD } } });
  admin = await login(registry.url, "admin", PASSWORD);
  for (const [name, quota] of [["payments", "5MiB"], ["web", "2MiB"], ["data", null]] as const) {
    const created = await api(registry.url, "POST", "/api/v1/projects", admin, { name });
    if (created.status !== 201) throw new Error(`creating ${name}: ${created.status} ${await created.text()}`);
    if (quota) {
      const set = await api(registry.url, "PATCH", `/api/v1/projects/${name}`, admin, { quota });
      if (set.status !== 200) throw new Error(`quota of ${name}: ${set.status} ${await set.text()}`);
    }
  }
  await push(service("api", "1.8.0", 600), "payments/api", "1.8.0");
  await push(service("api", "1.9.0", 650), "payments/api", "1.9.0");
  // "latest" moves from 1.9.0's build to a rebuild: the old manifest stays, untagged.
  await push(service("api", "1.9.0-rc", 640), "payments/api", "latest");
  await push(service("api", "1.9.1", 660), "payments/api", "latest");
  await push(twoPlatformIndex(), "payments/api", "2.0.0", true);
  await push(service("worker", "3.2.0", 300), "payments/worker", "3.2.0");
  await push(service("frontend", "5.0.1", 900), "web/frontend", "5.0.1");
  await push(service("nginx", "1.27", 400), "web/nginx", "1.27");
  await push(service("etl", "0.9.3", 200), "data/etl", "0.9.3");
  await push(tinyImage(), "library/busybox", "1.36");
  browser = await launchBrowser({ width: 1440, height: 900 });
  const { page } = browser;
  await page.goto(`${registry.url}/login`);
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await registry?.stop();
  if (work) await removeTree(work);
});

/** Writes docs/images/<name>.png only when asked to, and then checks it stays small. */
async function screen(name: string): Promise<void> {
  if (!UPDATE) return;
  const file = path.join(IMAGES, `${name}.png`);
  await browser.page.screenshot({ path: file, animations: "disabled", caret: "hide" });
  expect((await stat(file)).size).toBeLessThan(MAX_BYTES);
}

test("repositories", async () => {
  const { page } = browser;
  await page.goto(`${registry.url}/repositories`);
  for (const name of ["payments/api", "payments/worker", "web/frontend", "web/nginx", "data/etl", "library/busybox"]) await page.getByRole("link", { name, exact: true }).waitFor();
  await screen("screen-repositories");
});

test("a repository's artifacts, with the untagged one counted", async () => {
  const { page } = browser;
  await page.goto(`${registry.url}/repositories/payments/api`);
  await page.getByTestId("artifacts").locator("tbody tr", { hasText: "2.0.0" }).waitFor();
  await page.getByTestId("filter-untagged").getByText("(1)").waitFor();
  await screen("screen-artifacts");
});

test("an index's Export dialog with its platforms", async () => {
  const { page } = browser;
  await page.goto(`${registry.url}/repositories/payments/api/-/manifests/2.0.0`);
  await page.getByTestId("export-open").click();
  const picker = page.getByTestId("export-platform");
  expect(await picker.locator("option").allTextContents()).toEqual(["linux/amd64", "linux/arm64/v8", "All platforms (OCI layout)"]);
  await picker.selectOption("all");
  await screen("screen-export");
  await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
});

test("storage and a GC dry run", async () => {
  const { page } = browser;
  await page.goto(`${registry.url}/storage`);
  await page.getByTestId("gc-dry-run").click();
  // The report under the GC card: what the dry run found and what the grace period held back.
  await page.getByTestId("gc-held-back").scrollIntoViewIfNeeded();
  await screen("screen-storage-gc");
});

test("projects with quotas", async () => {
  const { page } = browser;
  await page.goto(`${registry.url}/projects`);
  const payments = page.locator('tr[data-project="payments"]');
  await payments.getByRole("meter").waitFor();
  expect(await payments.locator('[data-column="repositories"]').textContent()).toBe("2");
  expect(await page.locator('tr[data-project="data"] [data-column="storage"]').textContent()).toMatch(/no quota$/);
  await screen("screen-projects");
});
