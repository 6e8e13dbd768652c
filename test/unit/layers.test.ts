import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import ts from "typescript";

/**
 * The intended layer order of src/, lowest first — written down here and nowhere else (docs/architecture.md
 * points here). A file may import files of its own layer or of a lower one. Folders of one layer may import
 * each other as long as no two folders import each other (directly or around a loop); no file import may
 * form a cycle either. A file or folder not listed here fails the test, so every new folder gets a place.
 */
const LAYERS: ReadonlyArray<{ layer: string; members: readonly string[] }> = [
  { layer: "kernel", members: ["kernel/", "config/"] },
  { layer: "stores", members: ["storage/", "metadata/", "generated/"] },
  { layer: "services", members: ["metrics/", "audit/", "events/", "auth/", "registry/", "gc/", "proxy/"] },
  { layer: "http", members: ["http/", "oci/", "admin/", "web/", "ops/"] },
  { layer: "composition root", members: ["deps.ts", "app.ts", "server.ts", "cli/", "main.ts"] },
];

type ImportGraph = Map<string, Array<{ to: string; line: number }>>;

const SRC = path.resolve(__dirname, "../../src");

/** Every relative import of every .ts file under root (generated code excepted): static, `import type`, `export … from`, `import()` and `require()`. */
function readImportGraph(root: string): ImportGraph {
  const options: ts.CompilerOptions = { module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10 };
  const graph: ImportGraph = new Map();
  const visit = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (path.relative(root, file) !== "generated") visit(file);
        continue;
      }
      if (!entry.name.endsWith(".ts")) continue;
      const text = readFileSync(file, "utf8");
      const edges: Array<{ to: string; line: number }> = [];
      for (const imported of ts.preProcessFile(text, true, true).importedFiles) {
        if (!imported.fileName.startsWith(".")) continue;
        const resolved = ts.resolveModuleName(imported.fileName, file, options, ts.sys).resolvedModule?.resolvedFileName;
        if (!resolved) throw new Error(`${path.relative(root, file)}: cannot resolve import "${imported.fileName}"`);
        edges.push({ to: path.relative(root, resolved), line: text.slice(0, imported.pos).split("\n").length });
      }
      graph.set(path.relative(root, file), edges);
    }
  };
  visit(root);
  return graph;
}

/** The folder (or top-level file) a path under src/ belongs to, as written in LAYERS. */
function unitOf(file: string): string {
  const slash = file.indexOf("/");
  return slash === -1 ? file : file.slice(0, slash + 1);
}

function layerIndex(layers: typeof LAYERS, unit: string): number {
  return layers.findIndex((l) => l.members.includes(unit));
}

/** Cycles of a directed graph, one concrete loop per strongly connected component (Tarjan). */
function cyclesOf(nodes: Iterable<string>, next: (node: string) => Iterable<string>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const connect = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of next(v)) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component = new Set<string>();
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.add(w);
    } while (w !== v);
    if (component.size > 1 || [...next(v)].includes(v)) cycles.push(loopWithin(v, component, next));
  };
  for (const node of nodes) if (!index.has(node)) connect(node);
  return cycles;
}

/** A shortest path from start back to start that stays inside one strongly connected component. */
function loopWithin(start: string, component: Set<string>, next: (node: string) => Iterable<string>): string[] {
  const parent = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const node = queue.shift()!;
    for (const w of next(node)) {
      if (!component.has(w)) continue;
      if (w === start) {
        const loop = [start];
        for (let at: string | undefined = node; at !== undefined && at !== start; at = parent.get(at)) loop.splice(1, 0, at);
        return [...loop, start];
      }
      if (!parent.has(w)) {
        parent.set(w, node);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

/** Every breach of the layer order in a graph: unplaced files, upward imports, file cycles, folder cycles. */
function layerViolations(graph: ImportGraph, layers: typeof LAYERS = LAYERS): string[] {
  const violations: string[] = [];
  const placed = (file: string): number => layerIndex(layers, unitOf(file));
  for (const [from, edges] of graph) {
    if (placed(from) === -1) violations.push(`src/${from} is in no layer: add "${unitOf(from)}" to LAYERS`);
    for (const { to, line } of edges) {
      const [a, b] = [placed(from), placed(to)];
      if (a !== -1 && b > a) {
        violations.push(`upward import: src/${from}:${line} imports src/${to} (${layers[a].layer} → ${layers[b].layer})`);
      }
    }
  }
  const targets = (file: string): string[] => (graph.get(file) ?? []).map((e) => e.to);
  for (const loop of cyclesOf(graph.keys(), targets)) violations.push(`import cycle between files: ${loop.map((f) => `src/${f}`).join(" → ")}`);
  const folderEdges = new Map<string, Set<string>>();
  for (const [from, edges] of graph) {
    for (const { to } of edges) {
      if (unitOf(from) === unitOf(to)) continue;
      const set = folderEdges.get(unitOf(from)) ?? new Set<string>();
      set.add(unitOf(to));
      folderEdges.set(unitOf(from), set);
    }
  }
  for (const loop of cyclesOf(folderEdges.keys(), (u) => folderEdges.get(u) ?? [])) {
    const witnesses = loop.slice(0, -1).map((u, i) => {
      const [from, edge] = [...graph].flatMap(([f, es]) => es.map((e) => [f, e] as const)).find(([f, e]) => unitOf(f) === u && unitOf(e.to) === loop[i + 1])!;
      return `src/${from}:${edge.line} imports src/${edge.to}`;
    });
    violations.push(`import cycle between folders: ${loop.join(" → ")} (${witnesses.join("; ")})`);
  }
  return violations;
}

describe("layers of src/", () => {
  it("has no upward import and no import cycle", () => {
    expect(layerViolations(readImportGraph(SRC))).toEqual([]);
  });

  describe("the checker itself", () => {
    const layers = [
      { layer: "low", members: ["a/", "b/"] },
      { layer: "high", members: ["c/", "top.ts"] },
    ];
    const graphOf = (edges: Record<string, string[]>): ImportGraph =>
      new Map(Object.entries(edges).map(([from, tos]) => [from, tos.map((to) => ({ to, line: 1 }))]));

    it("accepts downward and same-layer imports", () => {
      expect(layerViolations(graphOf({ "top.ts": ["c/x.ts"], "c/x.ts": ["a/y.ts", "b/z.ts"], "a/y.ts": ["b/z.ts"], "b/z.ts": [] }), layers)).toEqual([]);
    });

    it("names an upward import", () => {
      expect(layerViolations(graphOf({ "a/y.ts": ["c/x.ts"], "c/x.ts": [] }), layers)).toEqual([
        "upward import: src/a/y.ts:1 imports src/c/x.ts (low → high)",
      ]);
    });

    it("names a file cycle and the folder cycle it makes", () => {
      const violations = layerViolations(graphOf({ "a/1.ts": ["a/2.ts"], "a/2.ts": ["b/3.ts"], "b/3.ts": ["a/1.ts"] }), layers);
      expect(violations).toContain("import cycle between files: src/a/1.ts → src/a/2.ts → src/b/3.ts → src/a/1.ts");
      expect(violations.some((v) => v.startsWith("import cycle between folders: a/ → b/ → a/") || v.startsWith("import cycle between folders: b/ → a/ → b/"))).toBe(true);
    });

    it("names a folder cycle made of files that form no cycle", () => {
      expect(layerViolations(graphOf({ "a/1.ts": ["b/2.ts"], "b/2.ts": [], "b/3.ts": ["a/4.ts"], "a/4.ts": [] }), layers)).toEqual([
        expect.stringMatching(/^import cycle between folders: (a\/ → b\/ → a\/|b\/ → a\/ → b\/)/),
      ]);
    });

    it("names a file in no layer", () => {
      expect(layerViolations(graphOf({ "d/x.ts": [] }), layers)).toEqual(['src/d/x.ts is in no layer: add "d/" to LAYERS']);
    });

    it("reads every kind of import from source", () => {
      const root = mkdtempSync(path.join(os.tmpdir(), "berth-layers-"));
      try {
        mkdirSync(path.join(root, "a"));
        mkdirSync(path.join(root, "c"));
        for (const name of ["one", "two", "three", "four", "five"]) writeFileSync(path.join(root, "c", `${name}.ts`), "export const x = 1;\n");
        writeFileSync(path.join(root, "c", "index.ts"), "export {};\n");
        writeFileSync(
          path.join(root, "a", "y.ts"),
          [
            'import { x } from "../c/one";',
            'import type { x as T } from "../c/two";',
            'export { x as z } from "../c/three";',
            'const later = () => import("../c/four");',
            'const old = require("../c/five");',
            'import "../c";',
            'import { readFileSync } from "node:fs";',
          ].join("\n"),
        );
        const graph = readImportGraph(root);
        expect(graph.get("a/y.ts")).toEqual(["one", "two", "three", "four", "five", "index"].map((n, i) => ({ to: `c/${n}.ts`, line: i + 1 })));
        expect(layerViolations(graph, layers)).toHaveLength(6);
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    });
  });
});
