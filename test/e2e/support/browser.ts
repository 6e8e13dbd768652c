// Headless Chromium (Debian's package) driven by playwright-core: a fresh profile per launch, and the flags
// that keep it off the network (this machine has none; without them Chromium keeps dialing Google's hosts).
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { makeTempDir } from "./process";
import { requireBinaries } from "./tools";

export const ARTIFACTS = path.resolve("test-artifacts");

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Saves test-artifacts/<name>.png (the viewport, or the whole page with `full`). */
  screenshot(name: string, full?: boolean): Promise<string>;
  close(): Promise<void>;
}

export async function launchBrowser(options: { locale?: string; width?: number; height?: number } = {}): Promise<Browser> {
  const { chromium: executablePath } = requireBinaries("chromium");
  const profile = await makeTempDir("berth-chromium");
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    locale: options.locale ?? "en-US",
    viewport: { width: options.width ?? 1360, height: options.height ?? 860 },
    acceptDownloads: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      // (--user-data-dir is the fresh `profile`, which playwright passes itself.)
    ],
  });
  await mkdir(ARTIFACTS, { recursive: true });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async screenshot(name, full = false) {
      const file = path.join(ARTIFACTS, `${name}.png`);
      await page.screenshot({ path: file, fullPage: full });
      return file;
    },
    async close() {
      await context.close().catch(() => undefined);
      await rm(profile, { recursive: true, force: true });
    },
  };
}
