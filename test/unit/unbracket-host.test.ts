// One function takes the brackets off an IPv6 literal host (src/kernel/addresses.ts); copies of the regex
// elsewhere drifted apart before (some stripped a lone "[" or "]").
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { unbracketHost } from "../../src/kernel/addresses";

const SRC = path.resolve(__dirname, "../../src");

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === "generated" ? [] : sources(full);
    return e.name.endsWith(".ts") ? [full] : [];
  });
}

describe("unbracketHost", () => {
  it("takes the brackets off an IPv6 literal and leaves everything else alone", () => {
    expect(unbracketHost("[::1]")).toBe("::1");
    expect(unbracketHost("[fe80::1%eth0]")).toBe("fe80::1%eth0");
    expect(unbracketHost("127.0.0.1")).toBe("127.0.0.1");
    expect(unbracketHost("registry.example.com")).toBe("registry.example.com");
    expect(unbracketHost("::1")).toBe("::1");
    // Half a pair is not a bracketed literal.
    expect(unbracketHost("[::1")).toBe("[::1");
    expect(unbracketHost("::1]")).toBe("::1]");
    expect(unbracketHost("")).toBe("");
  });

  it("is the only place in src/ that strips brackets from a host", () => {
    const copies = sources(SRC).flatMap((file) =>
      readFileSync(file, "utf8")
        .split("\n")
        .map((line, i) => ({ line, at: `${path.relative(SRC, file)}:${i + 1}` }))
        .filter(({ line }) => line.includes("replace(/^\\[") || /startsWith\("\["\)/.test(line))
        .map(({ at }) => at),
    );
    expect(copies.map((at) => at.replace(/:\d+$/, ""))).toEqual(["kernel/addresses.ts"]);
  });
});
