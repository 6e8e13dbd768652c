// Keeps the docs walkable: every relative link and image in README.md and docs/*.md points at a file that
// exists, and every #anchor at a heading of its target, with the slugs GitHub gives headings. Markdown is
// parsed by markdown-it, so links inside code blocks and code spans are not links.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import MarkdownIt from "markdown-it";

const ROOT = path.resolve(__dirname, "../..");
const md = new MarkdownIt({ html: true });

interface Link {
  href: string;
  line: number;
}

interface ParsedDoc {
  links: Link[];
  anchors: Set<string>;
}

/** GitHub's heading ids (github-slugger): lower case, punctuation dropped, spaces to dashes, repeats numbered. */
function slugger(): (heading: string) => string {
  const seen = new Map<string, number>();
  return (heading) => {
    const base = heading.toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, "").replace(/ /g, "-");
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    return count ? `${base}-${count}` : base;
  };
}

function parse(text: string): ParsedDoc {
  const tokens = md.parse(text, {});
  const slug = slugger();
  const links: Link[] = [];
  const anchors = new Set<string>();
  tokens.forEach((token, i) => {
    const line = (token.map?.[0] ?? 0) + 1;
    if (token.type === "heading_open") {
      const inline = tokens[i + 1];
      const words = (inline.children ?? []).filter((t) => t.type === "text" || t.type === "code_inline").map((t) => t.content);
      anchors.add(slug(words.join("")));
    }
    if (token.type === "html_block") for (const href of htmlTargets(token.content)) links.push({ href, line });
    let lineInBlock = line;
    for (const child of token.children ?? []) {
      if (child.type === "softbreak" || child.type === "hardbreak") lineInBlock++;
      const href = child.type === "link_open" ? child.attrGet("href") : child.type === "image" ? child.attrGet("src") : null;
      if (href !== null) links.push({ href: String(href), line: lineInBlock });
      if (child.type === "html_inline") for (const target of htmlTargets(child.content)) links.push({ href: target, line: lineInBlock });
    }
  });
  return { links, anchors };
}

/** `<img src>` and `<a href>` written as HTML. */
function htmlTargets(html: string): string[] {
  return [...html.matchAll(/\b(?:src|href)\s*=\s*"([^"]*)"/g)].map((m) => m[1]);
}

/** The broken relative links of one Markdown file, each named with its line and why it is broken. */
function brokenLinks(file: string): string[] {
  const parsed = new Map<string, ParsedDoc>();
  const docOf = (target: string) => {
    if (!parsed.has(target)) parsed.set(target, parse(readFileSync(target, "utf8")));
    return parsed.get(target)!;
  };
  const problems: string[] = [];
  for (const { href, line } of docOf(file).links) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith("//")) continue; // absolute URLs: not ours to check here
    const [rawPath, rawAnchor] = href.split("#", 2) as [string, string | undefined];
    const pathPart = decodeURIComponent(rawPath.split("?")[0]);
    const target = pathPart ? path.resolve(path.dirname(file), pathPart) : file;
    const where = `${path.relative(ROOT, file)}:${line}: ${href}`;
    if (pathPart.startsWith("/")) problems.push(`${where} — a site-absolute path; write it relative to the file`);
    else if (!existsSync(target)) problems.push(`${where} — ${path.relative(ROOT, target)} does not exist`);
    else if (rawAnchor !== undefined) {
      if (!target.endsWith(".md")) problems.push(`${where} — an anchor into a file that is not Markdown`);
      else if (!docOf(target).anchors.has(decodeURIComponent(rawAnchor))) problems.push(`${where} — ${path.relative(ROOT, target)} has no heading #${rawAnchor}`);
    }
  }
  return problems;
}

const DOCS = ["README.md", ...readdirSync(path.join(ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];

describe("relative links in the docs", () => {
  it.each(DOCS)("%s: every link, image and anchor resolves", (doc) => {
    expect(brokenLinks(path.join(ROOT, doc))).toEqual([]);
  });

  it("covers the guides the README points to", () => {
    const linked = parse(readFileSync(path.join(ROOT, "README.md"), "utf8")).links.map((l) => l.href.split("#")[0]);
    for (const guide of ["mirror", "auth", "gc", "storage", "web", "operations", "development", "configuration"]) {
      expect(linked).toContain(`docs/${guide}.md`);
    }
  });
});

describe("the link checker itself", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "berth-docs-links-"));
    mkdirSync(path.join(dir, "docs/images"), { recursive: true });
    writeFileSync(path.join(dir, "docs/images/shot.png"), "");
    writeFileSync(
      path.join(dir, "docs/guide.md"),
      ["# The guide", "", "## Usage", "", "## Usage", "", "## S3 storage — and `scale-out`!", "", "### 设置 Settings", ""].join("\n"),
    );
    writeFileSync(
      path.join(dir, "README.md"),
      [
        "# Readme",
        "[guide](docs/guide.md) [second usage](docs/guide.md#usage-1) [s3](docs/guide.md#s3-storage--and-scale-out)",
        "[chinese](docs/guide.md#设置-settings) [self](#readme) ![shot](docs/images/shot.png) [web](https://example.com/x.md)",
        "[gone](docs/missing.md) [no heading](docs/guide.md#nowhere) ![no image](docs/images/none.png) [self gone](#nope)",
        '<img src="docs/images/absent.png"> [absolute](/docs/guide.md) [third usage](docs/guide.md#usage-2)',
        "",
        "```md",
        "[in a code block](docs/not-checked.md)",
        "```",
        "`[in a code span](docs/not-checked-either.md)`",
      ].join("\n"),
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("names each broken link with its line and reason, and passes the good ones", () => {
    const problems = brokenLinks(path.join(dir, "README.md")).map((p) => p.replaceAll(path.relative(ROOT, dir), "<tmp>"));
    expect(problems).toEqual([
      "<tmp>/README.md:4: docs/missing.md — <tmp>/docs/missing.md does not exist",
      "<tmp>/README.md:4: docs/guide.md#nowhere — <tmp>/docs/guide.md has no heading #nowhere",
      "<tmp>/README.md:4: docs/images/none.png — <tmp>/docs/images/none.png does not exist",
      "<tmp>/README.md:4: #nope — <tmp>/README.md has no heading #nope",
      "<tmp>/README.md:5: docs/images/absent.png — <tmp>/docs/images/absent.png does not exist",
      "<tmp>/README.md:5: /docs/guide.md — a site-absolute path; write it relative to the file",
      "<tmp>/README.md:5: docs/guide.md#usage-2 — <tmp>/docs/guide.md has no heading #usage-2",
    ]);
  });
});
