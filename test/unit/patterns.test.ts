// The pattern matcher every stored or configured pattern goes through (src/kernel/patterns.ts): hostile
// patterns cost linear steps, and the matcher agrees with simple reference semantics.
//
// Cost is counted, not timed: the input is handed to the engine as UTF-8 bytes behind a proxy that counts
// every byte read. A backtracking matcher re-reads the input for every path it tries (the naive glob
// reference below shows the counter catching that); RE2's automata read each byte a bounded number of
// times, and the work per byte is bounded by the program size, which the module caps.
import fc from "fast-check";
import { compilesWith, glob, MAX_PROGRAM_SIZE, PatternError, wholeRegex, type WholeMatch } from "../../src/kernel/patterns";
import { z } from "zod";

interface Counted {
  bytes: number[];
  reads: () => number;
}

function counted(input: string): Counted {
  let reads = 0;
  const bytes = new Proxy([...Buffer.from(input, "utf8")], {
    get(target, key, receiver) {
      if (typeof key === "string" && /^\d+$/.test(key)) reads++;
      return Reflect.get(target, key, receiver) as unknown;
    },
  });
  return { bytes, reads: () => reads };
}

/** Bytes the engine reads to decide whether `pattern` matches all of `input`. */
function readsToMatch(pattern: WholeMatch, input: string): number {
  const c = counted(input);
  pattern.program.testExact(c.bytes);
  return c.reads();
}

const TAG_LENGTH = 128;
/** The attack tag of the report, grown to the longest tag a client may push. */
const attackTag = (n = TAG_LENGTH) => "a".repeat(n - 1) + "c";

/** Reads at n and 4n characters: a linear matcher reads about 4 times as much, a backtracking one far more. */
function growth(match: (input: string) => number, input: (n: number) => string, n = TAG_LENGTH): { small: number; large: number } {
  return { small: match(input(n)), large: match(input(4 * n)) };
}

function expectLinear(pattern: WholeMatch, input: (n: number) => string): void {
  const { small, large } = growth((s) => readsToMatch(pattern, s), input);
  // Each position is read once per automaton pass; the bit-state fallback visits each (instruction,
  // position) pair at most once, so program size × length bounds every engine re2js may choose.
  expect(small).toBeLessThanOrEqual((pattern.program.programSize() + 1) * (TAG_LENGTH + 1));
  expect(large).toBeLessThanOrEqual(4.5 * Math.max(small, TAG_LENGTH));
}

const hostileRegexes = [
  "(a+)+b",
  "(a|a)*b",
  "(a|aa)+b",
  "(a*)*b",
  "(a+)*(a+)*(a+)*b",
  "(.*a){20}b",
  "(a?){30}a{30}b",
  "((a+)+)+b",
  "(\\w+\\.?)*b",
  "([a-z]+-?)*[0-9]",
  "(a|b|ab|ba|aa)*c{2}",
  ".*.*.*.*.*.*.*.*.*.*b",
];

const hostileGlobs = ["*a*a*a*a*a*a*a*a*b", "**/**/**/**b", "**a**a**a**a**b", "?*?*?*?*?*?*b", "{a,a}*{a,a}*{a,aa}*b", "{*a,a*}{*a,a*}{*a,a*}b", "*".repeat(60) + "b"];

describe("hostile patterns cost linear steps on 128-character tags", () => {
  test.each(hostileRegexes)("regex %s", (source) => {
    const pattern = wholeRegex(source);
    expect(pattern.test(attackTag())).toBe(false);
    expectLinear(pattern, attackTag);
  });

  test.each(hostileGlobs)("glob %s", (source) => {
    const pattern = glob(source);
    expect(pattern.test(attackTag())).toBe(false);
    expectLinear(pattern, attackTag);
    expectLinear(pattern, (n) => "a/".repeat(n / 2 - 1) + "ac");
  });

  test("the step counter catches a backtracking matcher on the same inputs", () => {
    // The naive reference glob matcher, fed the same counted bytes: polynomial in the number of stars
    // (shorter inputs, or this test would take minutes).
    const reads = (input: string) => {
      const c = counted(input);
      naiveGlob("*a*a*b", c.bytes, 0, 0);
      return c.reads();
    };
    const { small, large } = growth(reads, attackTag, 32);
    expect(large).toBeGreaterThan(20 * small);
  });

  test("random nested quantifiers and alternations stay linear", () => {
    fc.assert(
      fc.property(hostileRegex(), (source) => {
        const pattern = tryCompile(wholeRegex, source);
        if (!pattern) return; // refused (too large): refusal is the other acceptable outcome
        expectLinear(pattern, attackTag);
        expectLinear(pattern, (n) => "ab".repeat(n / 2 - 1) + "a!");
      }),
      { numRuns: 150 },
    );
  });

  test("random star-heavy globs stay linear", () => {
    fc.assert(
      fc.property(hostileGlob(), (source) => {
        const pattern = tryCompile(glob, source);
        if (!pattern) return;
        expectLinear(pattern, attackTag);
        expectLinear(pattern, (n) => "a/".repeat(n / 2 - 1) + "ac");
      }),
      { numRuns: 150 },
    );
  });
});

describe("agreement with reference semantics on small cases", () => {
  test("regexes match what JavaScript's RegExp matches (whole-string)", () => {
    fc.assert(
      fc.property(smallRegex(), fc.array(fc.string({ unit: fc.constantFrom("a", "b", "c", "-", "."), maxLength: 8 }), { minLength: 1, maxLength: 8 }), (source, inputs) => {
        const ours = wholeRegex(source);
        const reference = new RegExp(`^(?:${source})$`);
        for (const input of inputs) expect([source, input, ours.test(input)]).toEqual([source, input, reference.test(input)]);
      }),
      { numRuns: 400 },
    );
  });

  test("globs match what a naive doublestar matcher matches", () => {
    fc.assert(
      fc.property(smallGlob(), fc.array(fc.string({ unit: fc.constantFrom("a", "b", "/", "."), maxLength: 8 }), { minLength: 1, maxLength: 8 }), (source, inputs) => {
        const ours = glob(source);
        for (const input of inputs) expect([source, input, ours.test(input)]).toEqual([source, input, naiveGlob(source, [...Buffer.from(input)], 0, 0)]);
      }),
      { numRuns: 400 },
    );
  });

  test("what existing rules are written with keeps its meaning", () => {
    const cases: Array<[string, string, boolean]> = [
      ["v1\\..*", "v1.2.3", true],
      ["v1\\..*", "v10", false],
      ["latest|stable", "stable", true],
      ["latest|stable", "latest-rc", false],
      ["release-[0-9]+", "release-42", true],
      ["\\d+\\.\\d+", "1.2", true],
      ["(?<major>\\d+)\\.x", "3.x", true],
      ["a{2,3}", "aaaa", false],
    ];
    for (const [source, tag, expected] of cases) expect([source, tag, wholeRegex(source).test(tag)]).toEqual([source, tag, expected]);
  });

  test("globs: * stays in a segment, ** crosses segments, ? is one character, {a,b} either", () => {
    expect(glob("library/*").test("library/nginx")).toBe(true);
    expect(glob("library/*").test("library/a/b")).toBe(false);
    expect(glob("library/**").test("library/a/b")).toBe(true);
    expect(glob("team-?").test("team-a")).toBe(true);
    expect(glob("team-?").test("team-ab")).toBe(false);
    expect(glob("{team,ops}-*").test("ops-x")).toBe(true);
    expect(glob("{team,ops}-*").test("dev-x")).toBe(false);
    expect(glob("a.b").test("axb")).toBe(false);
  });
});

describe("refused patterns", () => {
  test.each([
    ["(?=a)a", /lookaround/],
    ["(a)\\1", /invalid escape sequence/],
    ["a{1001}", /invalid repeat count/],
    ["a)|(b", /unexpected \)/],
  ])("%s is refused with the reason", (source, reason) => {
    expect(() => wholeRegex(source)).toThrow(PatternError);
    expect(() => wholeRegex(source)).toThrow(reason);
  });

  test("a pattern compiling to more than the cap is refused", () => {
    expect(() => wholeRegex("[a-z]{1000}[0-9]{1000}")).toThrow(new RegExp(`too large: .* at most ${MAX_PROGRAM_SIZE}`));
  });

  test("an unclosed brace in a glob is refused", () => {
    expect(() => glob("{a,b")).toThrow(/not closed/);
  });

  test("validation reports the problem on the key", () => {
    const schema = z.object({ tags: z.array(z.string().superRefine(compilesWith(wholeRegex))) });
    const result = schema.safeParse({ tags: ["ok", "(a)\\1"] });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]).toMatchObject({ path: ["tags", 1], message: expect.stringMatching(/^not a valid regular expression/) });
  });
});

function tryCompile(compile: (source: string) => WholeMatch, source: string): WholeMatch | null {
  try {
    return compile(source);
  } catch (err) {
    if (err instanceof PatternError && /too large/.test(err.problem)) return null;
    throw err;
  }
}

/**
 * The reference semantics of a doublestar glob, written the obvious way: backtracking over the pattern.
 * An alternative of `{a,b}` must match some stretch of the input, and the rest of the pattern the rest.
 */
function naiveGlob(pattern: string, input: readonly number[], p: number, i: number, end = input.length): boolean {
  if (p === pattern.length) return i === end;
  const c = pattern[p];
  if (c === "{") {
    const close = matchingBrace(pattern, p);
    const alternatives = splitTopLevel(pattern.slice(p + 1, close));
    for (let k = i; k <= end; k++) {
      if (alternatives.some((alt) => naiveGlob(alt, input, 0, i, k)) && naiveGlob(pattern, input, close + 1, k, end)) return true;
    }
    return false;
  }
  if (c === "*") {
    const double = pattern[p + 1] === "*";
    const next = p + (double ? 2 : 1);
    for (let j = i; ; j++) {
      if (naiveGlob(pattern, input, next, j, end)) return true;
      if (j === end || (!double && input[j] === 0x2f)) return false;
    }
  }
  if (i === end) return false;
  if (c === "?") return input[i] !== 0x2f && naiveGlob(pattern, input, p + 1, i + 1, end);
  return input[i] === c.charCodeAt(0) && naiveGlob(pattern, input, p + 1, i + 1, end);
}

function matchingBrace(pattern: string, open: number): number {
  let depth = 0;
  for (let k = open; k < pattern.length; k++) {
    if (pattern[k] === "{") depth++;
    else if (pattern[k] === "}" && --depth === 0) return k;
  }
  throw new Error(`unclosed { in ${pattern}`);
}

function splitTopLevel(body: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let k = 0; k < body.length; k++) {
    if (body[k] === "{") depth++;
    else if (body[k] === "}") depth--;
    else if (body[k] === "," && depth === 0) {
      parts.push(body.slice(start, k));
      start = k + 1;
    }
  }
  return [...parts, body.slice(start)];
}

/** Small regexes over a few characters, in the syntax JavaScript and RE2 share. */
function smallRegex(): fc.Arbitrary<string> {
  const { node } = fc.letrec<{ node: string }>((tie) => ({
    node: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      fc.constantFrom("a", "b", "c", "\\.", "-", ".", "[ab]", "[^a]", "\\w", "\\d"),
      fc.tuple(tie("node"), fc.constantFrom("*", "+", "?", "{2}", "{1,3}", "*?")).map(([n, q]) => `(?:${n})${q}`),
      fc.tuple(tie("node"), tie("node")).map(([x, y]) => x + y),
      fc.tuple(tie("node"), tie("node")).map(([x, y]) => `(${x}|${y})`),
    ),
  }));
  return node;
}

/** Regexes built to backtrack: quantified groups of quantified, overlapping alternatives. */
function hostileRegex(): fc.Arbitrary<string> {
  const atom = fc.constantFrom("a", "a+", "a*", "a?", "(a|a)", "(a|aa)", ".", ".*", "\\w+", "[a-z]*");
  const group = fc.array(atom, { minLength: 1, maxLength: 4 }).chain((atoms) => fc.constantFrom(...["+", "*", "{2,9}", "?"].map((q) => `(${atoms.join("")})${q}`)));
  const nested = group.chain((g) => fc.constantFrom(g, `(${g})+`, `(${g}|a)*`, `((${g})*)+`));
  return fc.tuple(fc.array(nested, { minLength: 1, maxLength: 4 }), fc.constantFrom("b", "$", "c{2}", "[0-9]")).map(([parts, end]) => parts.join("") + end);
}

/** Globs with many stars, doublestars and overlapping alternatives. */
function hostileGlob(): fc.Arbitrary<string> {
  const part = fc.constantFrom("*", "**", "?", "a", "a*", "*a", "/**/", "{a,*a,a*}", "{*,**}");
  return fc.array(part, { minLength: 1, maxLength: 24 }).map((parts) => parts.join("") + "b");
}

/** Small globs over the characters of the test inputs. */
function smallGlob(): fc.Arbitrary<string> {
  const part = fc.oneof(
    fc.constantFrom("*", "**", "?", "a", "b", "/", "."),
    fc.array(fc.constantFrom("a", "b", "*", "/"), { minLength: 1, maxLength: 2 }).chain((alts) => fc.constant(`{${alts.join(",")},a}`)),
  );
  return fc.array(part, { minLength: 1, maxLength: 5 }).map((parts) => parts.join(""));
}
