// Builds the web UI into web/dist: one JS bundle and one stylesheet with content hashes in their names, and
// index.html pointing at them. esbuild only (no dev server, nothing fetched at build time); `--watch` rebuilds
// on change for development against a running `npm start`.
import { build, context } from "esbuild";
import { createHash } from "node:crypto";
import { mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, "dist");
const watch = process.argv.includes("--watch");

const options = {
  entryPoints: { app: path.join(here, "src/main.tsx") },
  bundle: true,
  format: "esm",
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  jsx: "automatic",
  jsxImportSource: "preact",
  minify: !watch,
  sourcemap: true,
  outdir: path.join(out, "assets"),
  entryNames: "[name]-[hash]",
  metafile: true,
  logLevel: "warning",
  legalComments: "none",
};

async function writeIndex(metafile) {
  const outputs = Object.keys(metafile.outputs).map((p) => path.relative(out, path.resolve(p)).split(path.sep).join("/"));
  const js = outputs.find((p) => p.endsWith(".js"));
  const css = outputs.find((p) => p.endsWith(".css"));
  const template = await readFile(path.join(here, "index.html"), "utf8");
  const html = template
    .replace("<!--css-->", css ? `<link rel="stylesheet" href="/${css}">` : "")
    .replace("<!--js-->", `<script type="module" src="/${js}"></script>`);
  await writeFile(path.join(out, "index.html"), html);
  const favicon = await readFile(path.join(here, "favicon.svg"));
  await writeFile(path.join(out, "favicon.svg"), favicon);
  return { js, css, hash: createHash("sha256").update(html).digest("hex").slice(0, 8) };
}

await rm(out, { recursive: true, force: true });
await mkdir(path.join(out, "assets"), { recursive: true });
if (watch) {
  const ctx = await context({
    ...options,
    plugins: [{ name: "index", setup: (b) => b.onEnd((r) => r.metafile && writeIndex(r.metafile).then((i) => console.log(`web: rebuilt ${i.js}`))) }],
  });
  await ctx.watch();
} else {
  const result = await build(options);
  const index = await writeIndex(result.metafile);
  const files = await readdir(path.join(out, "assets"));
  console.log(`web: built ${index.js}${index.css ? ` and ${index.css}` : ""} (${files.length} files in web/dist/assets)`);
}
