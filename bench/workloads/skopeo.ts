// A whole image with a real client: `skopeo copy` from an OCI layout to the registry (push) and back
// into a fresh layout (pull), end to end, for a ~200 MiB image of 8 gzip layers built for the run.
//
// skopeo remembers where it has seen each blob (its "blob info cache") and, on a later push to another
// repository of the same registry, mounts it instead of uploading. That would turn repetition 2+ into a
// mount benchmark. The cache lives in /var/lib/containers/cache for root, so skopeo runs here as the
// unprivileged `nobody` with a fresh HOME per copy, which gives it a private, empty cache.
import { chown, mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { writeOciLayout, type ImageSpec, type OciLayout } from "../../test/e2e/support/oci-layout";
import { run } from "../../test/e2e/support/process";
import { dockerRef, ociRef } from "../../test/e2e/support/skopeo";
import { requireBinary } from "../../test/e2e/support/tools";
import type { CaseContext, CaseDef } from "../lib/case";
import { MiB } from "../lib/stats";
import type { Settings } from "../settings";

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;

let layout: Promise<{ layout: OciLayout; bytes: number }> | undefined;
let copies = 0;

function imageSpec(layerMiB: number[]): ImageSpec {
  return {
    layers: layerMiB.map((mib, i) => ({
      comment: `bench layer ${i}: ${mib} MiB`,
      gzipLevel: 1,
      entries: [
        { type: "dir", path: `opt/layer${i}` },
        { type: "file", path: `opt/layer${i}/data.bin`, content: { kind: "random", size: mib * MiB, seed: `berth-bench-layer-${i}` } },
      ],
    })),
    config: { Cmd: ["/bin/sh"], Env: ["PATH=/bin"] },
  };
}

async function chownTree(dir: string): Promise<void> {
  if (asRoot) await run("chown", ["-R", `${NOBODY}:${NOBODY}`, dir]);
}

/** The image layout, built once per run (untimed), readable by nobody. */
function imageLayout(ctx: CaseContext): Promise<{ layout: OciLayout; bytes: number }> {
  layout ??= (async () => {
    const dir = path.join(ctx.work, "skopeo-image");
    const built = await writeOciLayout(dir, "latest", imageSpec(ctx.settings.skopeo.layerMiB));
    await chownTree(dir);
    const img = built.images[0]!;
    const bytes = img.manifest.size + img.config.size + img.layers.reduce((n, l) => n + l.size, 0);
    return { layout: built, bytes };
  })();
  return layout;
}

/** skopeo copy with an empty blob info cache (see the header). */
async function skopeoCopy(ctx: CaseContext, src: string, dest: string): Promise<void> {
  const home = path.join(ctx.work, `skopeo-home-${++copies}`);
  for (const d of ["run", "tmp"]) await mkdir(path.join(home, d), { recursive: true });
  await chownTree(home);
  const env = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    XDG_RUNTIME_DIR: path.join(home, "run"),
    XDG_DATA_HOME: path.join(home, "data"),
    XDG_CONFIG_HOME: path.join(home, "config"),
    TMPDIR: path.join(home, "tmp"),
  };
  const skopeo = requireBinary("skopeo");
  const args = ["--insecure-policy", "copy", "--src-tls-verify=false", "--dest-tls-verify=false", src, dest];
  try {
    if (asRoot) await run("setpriv", [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", skopeo, ...args], { env, timeoutMs: 600_000 });
    else await run(skopeo, args, { env, timeoutMs: 600_000 });
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

export function skopeoCases(s: Settings): CaseDef[] {
  const total = s.skopeo.layerMiB.reduce((a, b) => a + b, 0);
  const title = `${s.skopeo.layerMiB.length} layers, ~${total} MiB before gzip`;
  return [
    {
      id: "skopeo-push",
      group: "skopeo copy",
      title: `skopeo copy push, ${title}`,
      unit: "MiB/s",
      reps: s.skopeo.reps,
      async run(ctx) {
        const { layout: img, bytes } = await imageLayout(ctx);
        const repo = `bench/image-${ctx.rep}`;
        const seconds = await ctx.measure(async () => {
          const t0 = performance.now();
          await skopeoCopy(ctx, ociRef(img.dir, img.tag), dockerRef(ctx.target.host, repo, "latest"));
          return (performance.now() - t0) / 1000;
        });
        ctx.state.set("skopeo-repo", repo);
        return { value: bytes / MiB / seconds, bytes };
      },
    },
    {
      id: "skopeo-pull",
      group: "skopeo copy",
      title: `skopeo copy pull, ${title}`,
      unit: "MiB/s",
      reps: s.skopeo.reps,
      async run(ctx) {
        const { bytes } = await imageLayout(ctx);
        const repo = ctx.state.get("skopeo-repo") as string | undefined;
        if (!repo) throw new Error("skopeo-push left nothing to pull");
        const out = path.join(ctx.work, `skopeo-pull-${ctx.target.id}-${ctx.rep}`);
        await mkdir(out, { recursive: true });
        await chownTree(out);
        try {
          const seconds = await ctx.measure(async () => {
            const t0 = performance.now();
            await skopeoCopy(ctx, dockerRef(ctx.target.host, repo, "latest"), ociRef(out, "latest"));
            return (performance.now() - t0) / 1000;
          });
          return { value: bytes / MiB / seconds, bytes };
        } finally {
          await rm(out, { recursive: true, force: true });
        }
      },
    },
  ];
}
