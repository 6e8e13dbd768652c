// The data-access rule of docs/data-access.md: SQL and the ORM live in src/metadata/ only. Every other
// file under src/ is parsed (TypeScript compiler API) and checked for database clients, the Database
// object's module, ORM calls and SQL text.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import * as ts from "typescript";

const SRC = path.resolve(__dirname, "../../src");

/** Database drivers and the ORM: imported by src/metadata/ alone. */
const DRIVER_MODULES = /^(pg|pg-.*|@electric-sql\/pglite(\/.*)?|@prisma\/.*|prisma|pglite-prisma-adapter)$/;
/** Modules of src/ that hand out raw SQL (relative to src/, without extension). */
const RAW_SQL_MODULES = new Set(["metadata/database", "metadata/migrator", "metadata/gc-sql"]);
/** The composition root opens the database and passes it to src/metadata/stores.ts; it runs no SQL itself. */
const COMPOSITION_ROOT = /^(deps|main|server|app)\.ts$|^cli\//;
/** ORM members that run queries. */
const ORM_MEMBERS = new Set(["prisma", "$queryRaw", "$queryRawUnsafe", "$executeRaw", "$executeRawUnsafe", "$transaction"]);
/** The start of a SQL statement in a string or template (SQL is written in upper case here). */
const SQL_TEXT = /^\s*(SELECT\s|INSERT\s+INTO\s|UPDATE\s+\S+\s+SET\s|DELETE\s+FROM\s|WITH\s+(RECURSIVE\s+)?\w+(\(\w+(,\s*\w+)*\))?\s+AS\s*\(|CREATE\s+(TEMP\s+)?TABLE\s|SET\s+LOCAL\s|ANALYZE\b|VACUUM\b|LISTEN\s|BEGIN\b|COMMIT\b)/;

/** What `file` (a path relative to src/) does that only src/metadata/ may do. */
export function dataAccessViolations(file: string, source: string): string[] {
  const found: string[] = [];
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true);
  const where = (node: ts.Node) => `${file}:${sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1}`;
  const checkSpecifier = (node: ts.Node, spec: string) => {
    if (DRIVER_MODULES.test(spec)) {
      found.push(`${where(node)} imports ${spec}`);
      return;
    }
    if (!spec.startsWith(".")) return;
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)).replace(/\.(js|ts)$/, "");
    if (target.startsWith("generated/")) found.push(`${where(node)} imports the Prisma client (${spec})`);
    else if (RAW_SQL_MODULES.has(target) && !COMPOSITION_ROOT.test(file)) found.push(`${where(node)} imports ${target}`);
  };
  const visit = (node: ts.Node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      checkSpecifier(node, node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = node.arguments;
      if (arg && ts.isStringLiteralLike(arg)) checkSpecifier(node, arg.text);
    } else if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === "require") {
      const [arg] = node.arguments;
      if (arg && ts.isStringLiteralLike(arg)) checkSpecifier(node, arg.text);
    } else if (ts.isPropertyAccessExpression(node) && ORM_MEMBERS.has(node.name.text)) {
      found.push(`${where(node)} uses .${node.name.text}`);
    } else if (ts.isTaggedTemplateExpression(node) && /(^|\.)(sql|\$queryRaw|\$executeRaw)$/.test(node.tag.getText(sf))) {
      found.push(`${where(node)} runs tagged SQL (${node.tag.getText(sf)}\`…\`)`);
    } else if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateHead(node)) {
      if (SQL_TEXT.test(node.text)) found.push(`${where(node)} holds SQL: ${node.text.trim().split("\n")[0].slice(0, 60)}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith(".ts") ? [path.relative(SRC, full).split(path.sep).join("/")] : [];
  });
}

describe("data access", () => {
  test("no file under src/ outside src/metadata/ reaches the database but through a store", () => {
    const files = sourceFiles(SRC).filter((f) => !f.startsWith("metadata/") && !f.startsWith("generated/"));
    expect(files.length).toBeGreaterThan(50);
    const violations = files.flatMap((f) => dataAccessViolations(f, readFileSync(path.join(SRC, f), "utf8")));
    expect(violations).toEqual([]);
  });

  test("src/metadata/ is where the SQL is (the check sees what it is looking for)", () => {
    const files = sourceFiles(path.join(SRC, "metadata")).map((f) => f.replace(/^metadata\//, "web/"));
    const violations = files.flatMap((f) => dataAccessViolations(f, readFileSync(path.join(SRC, f.replace(/^web\//, "metadata/")), "utf8")));
    expect(violations.some((v) => v.includes("holds SQL"))).toBe(true);
    expect(violations.some((v) => v.includes("uses .prisma"))).toBe(true);
    expect(violations.some((v) => v.includes("imports pg"))).toBe(true);
  });

  test.each([
    [`import pg from "pg";`, "imports pg"],
    [`import { PGlite } from "@electric-sql/pglite";`, "imports @electric-sql/pglite"],
    [`const m = await import("@electric-sql/pglite");`, "imports @electric-sql/pglite"],
    [`import type { PrismaClient } from "../generated/prisma/client";`, "imports the Prisma client"],
    [`import type { Database } from "../metadata/database";`, "imports metadata/database"],
    [`export { gcDatabase } from "../metadata/gc-sql";`, "imports metadata/gc-sql"],
    [`await db.query("SELECT 1");`, "holds SQL"],
    [`await q(\`DELETE FROM tag WHERE id = $1\`, [id]);`, "holds SQL"],
    [`await q(\`UPDATE gc_run SET phase = \${p} WHERE id = 1\`);`, "holds SQL"],
    [`const s = \`WITH RECURSIVE kept(id) AS (SELECT 1)\`;`, "holds SQL"],
    [`await deps.database.prisma.user.findMany();`, "uses .prisma"],
    [`await tx.$executeRaw\`SELECT pg_advisory_xact_lock(1)\`;`, "uses .$executeRaw"],
    [`await client.$transaction([]);`, "uses .$transaction"],
  ])("flags %s", (source, expected) => {
    const violations = dataAccessViolations("web/example.ts", source);
    expect(violations.join("\n")).toContain(expected);
  });

  test("lets ordinary code through, and the composition root open the database", () => {
    expect(dataAccessViolations("web/example.ts", `import type { WebQueries } from "../metadata/web-queries";\nconst label = "Select a tag";\nctx.query.get("q");`)).toEqual([]);
    expect(dataAccessViolations("deps.ts", `import { openDatabase } from "./metadata/database";`)).toEqual([]);
    expect(dataAccessViolations("cli/commands.ts", `import { openDatabase } from "../metadata/database";`)).toEqual([]);
    expect(dataAccessViolations("deps.ts", `database.prisma.user.count();`)).not.toEqual([]);
  });
});
