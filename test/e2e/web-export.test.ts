// Export of a multi-platform image with real clients: the all-platforms archive (an OCI layout of the index
// as pushed) read by skopeo — inspected, copied to a dir: and pushed back with every digest unchanged — and
// loaded by the real Docker engine (a private dockerd 20.10, which reads docker's manifest.json beside the
// layout: the linux/amd64 image) and by containerd's importer (what Docker 25+ runs with the containerd image
// store: the index, every platform); in Chromium, the image page's Export dialog lists the index's platforms
// and "All platforms (OCI layout)", and the download starts under the server's file name.
import { createHash } from "node:crypto";
import { readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { startTestRegistry, type TestRegistry } from "../support/registry";
import { launchBrowser, type Browser } from "./support/browser";
import { parseCtrImages, startContainerd, type Containerd } from "./support/containerd";
import { startDockerd, type Dockerd } from "./support/dockerd";
import { twoPlatformIndex, writeOciLayout, type OciLayout } from "./support/oci-layout";
import { makeTempDir, removeTree } from "./support/process";
import { dockerRef, skopeoCopy, skopeoInspectRaw } from "./support/skopeo";
import { requireBinaries } from "./support/tools";

jest.setTimeout(180_000);

let registry: TestRegistry;
let work: string;
let layout: OciLayout;
let browser: Browser;
let dockerd: Dockerd;
let containerd: Containerd;

const sha256 = (data: Buffer) => `sha256:${createHash("sha256").update(data).digest("hex")}`;

beforeAll(async () => {
  requireBinaries("skopeo", "chromium", "dockerd", "docker", "containerd", "containerd-shim-runc-v2", "runc");
  work = await makeTempDir("berth-e2e-export");
  registry = await startTestRegistry();
  layout = await writeOciLayout(path.join(work, "multi"), "v1", twoPlatformIndex());
  await skopeoCopy(layout.ref, dockerRef(registry.host, "team/multi", "v1"), { all: true, preserveDigests: true });
  dockerd = await startDockerd();
  containerd = await startContainerd();
  browser = await launchBrowser({ width: 1440, height: 900 });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await dockerd?.stop().catch((e) => console.error("dockerd stop failed", e));
  await containerd?.stop().catch((e) => console.error("containerd stop failed", e));
  await registry?.stop();
  if (work) await removeTree(work);
});

async function exportTo(file: string, query: string): Promise<string> {
  const res = await fetch(`${registry.url}/api/v1/repositories/team/multi/-/export/v1${query}`);
  expect(res.status).toBe(200);
  await writeFile(file, Buffer.from(await res.arrayBuffer()));
  return file;
}

test("skopeo reads the all-platforms archive: the index and every blob with the registry's digests", async () => {
  const file = await exportTo(path.join(work, "all.tar"), "?platform=all&format=oci");
  const raw = await skopeoInspectRaw(`oci-archive:${file}`);
  expect(raw.digest).toBe(layout.top.digest);
  expect((raw.json.manifests as Array<{ digest: string }>).map((m) => m.digest)).toEqual(layout.images.map((i) => i.manifest.digest));

  const dir = path.join(work, "copied");
  await skopeoCopy(`oci-archive:${file}`, `dir:${dir}`, { all: true, preserveDigests: true });
  const files = await readdir(dir);
  expect(sha256(await readFile(path.join(dir, "manifest.json")))).toBe(layout.top.digest);
  const copied = new Set<string>();
  for (const name of files) {
    const data = await readFile(path.join(dir, name));
    if (/^[0-9a-f]{64}$/.test(name)) {
      expect(sha256(data)).toBe(`sha256:${name}`);
      copied.add(`sha256:${name}`);
    } else if (name.endsWith(".manifest.json") && name !== "manifest.json") {
      copied.add(sha256(data));
    }
  }
  const expected = layout.images.flatMap((i) => [i.manifest.digest, i.config.digest, ...i.layers.map((l) => l.digest)]);
  expect([...copied].sort()).toEqual([...expected].sort());

  // Back into the registry under another name: the same index digest, every platform with it.
  await skopeoCopy(`oci-archive:${file}`, dockerRef(registry.host, "team/reimported", "v1"), { all: true, preserveDigests: true });
  expect((await skopeoInspectRaw(dockerRef(registry.host, "team/reimported", "v1"))).digest).toBe(layout.top.digest);
});

test("skopeo reads one platform as a bare OCI layout", async () => {
  const arm = layout.images.find((i) => i.platform.architecture === "arm64")!;
  const file = await exportTo(path.join(work, "arm.tar"), "?platform=linux/arm64/v8&format=oci");
  expect((await skopeoInspectRaw(`oci-archive:${file}`)).digest).toBe(arm.manifest.digest);
});

test("docker load of the all-platforms archive loads the linux/amd64 image under the exported tag", async () => {
  const file = await exportTo(path.join(work, "all-docker.tar"), "?platform=all");
  const loaded = await dockerd.docker(["load", "-i", file]);
  expect(loaded.out).toContain(`Loaded image: ${registry.host}/team/multi:v1`);
  const amd = layout.images.find((i) => i.platform.architecture === "amd64")!;
  const [info] = JSON.parse((await dockerd.docker(["image", "inspect", `${registry.host}/team/multi:v1`])).out) as Array<{ Id: string; Architecture: string; RootFS: { Layers: string[] } }>;
  expect(info).toMatchObject({ Id: amd.config.digest, Architecture: "amd64", RootFS: { Layers: amd.layers.map((l) => l.diffId) } });
});

// containerd's importer is what Docker 25+ runs for docker load with the containerd image store: it must
// take the index itself (every platform, its digest unchanged) from either format, tagged as exported.
test.each([["docker"], ["oci"]])("ctr images import --all-platforms of the all-platforms archive (format=%s) keeps the index", async (format) => {
  const file = await exportTo(path.join(work, `all-${format}.tar`), `?platform=all&format=${format}`);
  const ref = `${registry.host}/team/multi:v1`;
  await containerd.ctr(["images", "import", "--all-platforms", file]);
  const listed = parseCtrImages((await containerd.ctr(["images", "ls"])).out).find((i) => i.ref === ref);
  expect(listed).toMatchObject({ digest: layout.top.digest, platforms: ["linux/amd64", "linux/arm64/v8"] });
  await containerd.ctr(["images", "rm", "--sync", ref]);
});

test("Chromium: the Export dialog lists the index's platforms and All platforms, and the download has the server's file name", async () => {
  const { page } = browser;
  await page.goto(`${registry.url}/repositories/team/multi/-/manifests/v1`);
  await page.getByTestId("export-open").click();
  const picker = page.getByTestId("export-platform");
  await picker.waitFor();
  expect(await picker.locator("option").allTextContents()).toEqual(["linux/amd64", "linux/arm64/v8", "All platforms (OCI layout)"]);
  expect(await picker.inputValue()).toBe("linux/amd64");
  await picker.selectOption({ label: "All platforms (OCI layout)" });
  // One platform offers the format; the whole index is always an OCI layout.
  expect(await page.getByTestId("export-format").count()).toBe(0);
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-download").click()]);
  expect(download.suggestedFilename()).toBe("team_multi_v1_all.tar");
  const file = path.join(work, "from-browser.tar");
  await download.saveAs(file);
  expect((await skopeoInspectRaw(`oci-archive:${file}`)).digest).toBe(layout.top.digest);

  await page.getByTestId("export-open").click();
  await page.getByTestId("export-platform").selectOption("linux/arm64/v8");
  await page.getByTestId("export-format").selectOption("oci");
  const [one] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-download").click()]);
  expect(one.suggestedFilename()).toBe("team_multi_v1_linux-arm64-v8.oci.tar");
  await one.cancel();
});

test("Chromium in Chinese: the same dialog in the user's language", async () => {
  const zh = await launchBrowser({ locale: "zh-CN", width: 1440, height: 900 });
  try {
    await zh.page.goto(`${registry.url}/repositories/team/multi/-/manifests/v1`);
    await zh.page.getByTestId("export-open").click();
    await zh.page.getByRole("dialog").getByText("导出 team/multi:v1").waitFor();
    const picker = zh.page.getByTestId("export-platform");
    expect(await picker.locator("option").allTextContents()).toEqual(["linux/amd64", "linux/arm64/v8", "所有平台（OCI 布局）"]);
    expect(await zh.page.getByTestId("export-format").locator("option").allTextContents()).toEqual(["Docker 归档（docker load）", "OCI 镜像布局"]);
    const [download] = await Promise.all([zh.page.waitForEvent("download"), zh.page.getByTestId("export-download").click()]);
    expect(download.suggestedFilename()).toBe("team_multi_v1_linux-amd64.tar");
    await download.cancel();
  } finally {
    await zh.close();
  }
});
