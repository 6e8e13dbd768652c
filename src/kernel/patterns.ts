// Every pattern a user or the configuration supplies (tag rules, project, mirror and webhook globs) is
// matched here, by RE2's automaton (the re2js package) instead of JavaScript's backtracking RegExp: a match
// costs at most (program size × input length) steps whatever the pattern, so `(a+)+b` against a long tag
// is as cheap as `latest`. The program size is capped too, which bounds the cost of one match outright.
import { RE2JS, RE2JSException } from "re2js";
import type { z } from "zod";

/** RE2 instructions one pattern may compile to; `[a-z]{1000}` is about 1000. */
export const MAX_PROGRAM_SIZE = 2000;

/** A pattern that cannot be used: not valid RE2 syntax (backreferences, lookaround) or too large. */
export class PatternError extends Error {
  constructor(
    readonly pattern: string,
    /** What is wrong, without the pattern: "not a valid …", "too large: …". */
    readonly problem: string,
  ) {
    super(`pattern ${JSON.stringify(pattern)}: ${problem}`);
    this.name = "PatternError";
  }
}

/** A compiled pattern that matches whole strings only. */
export class WholeMatch {
  /** The RE2 program (exposed so tests can count the steps a match takes). */
  readonly program: RE2JS;

  constructor(
    /** What the user wrote. */
    readonly source: string,
    re2Source: string,
  ) {
    try {
      this.program = RE2JS.compile(re2Source);
    } catch (err) {
      if (!(err instanceof RE2JSException)) throw err;
      throw new PatternError(source, `not a valid regular expression in RE2 syntax (no backreferences, no lookaround): ${err.message.replace(/^error parsing regexp: /, "")}`);
    }
    if (this.program.programSize() > MAX_PROGRAM_SIZE) {
      throw new PatternError(source, `too large: it compiles to ${this.program.programSize()} instructions, at most ${MAX_PROGRAM_SIZE} are allowed`);
    }
  }

  test(input: string): boolean {
    return this.program.testExact(input);
  }
}

/**
 * A regular expression in RE2 syntax matched against the whole input: "v1\..*", "latest|stable". The
 * engine anchors both ends, so the source is compiled as written: "a)|(b" stays a syntax error.
 */
export function wholeRegex(source: string): WholeMatch {
  return new WholeMatch(source, source);
}

/**
 * A doublestar glob, as Harbor's repository and tag filters: `*` matches within one path segment, `**`
 * across segments, `?` one character other than `/`, `{a,b}` either alternative (nestable); everything
 * else is literal.
 */
export function glob(source: string): WholeMatch {
  return new WholeMatch(source, globToRe2(source));
}

/** A zod refinement for configuration and API input: refuses what `compile` refuses, with the reason. */
export function compilesWith(compile: (source: string) => WholeMatch) {
  return (source: string, ctx: z.RefinementCtx): void => {
    try {
      compile(source);
    } catch (err) {
      if (!(err instanceof PatternError)) throw err;
      ctx.addIssue({ code: "custom", message: err.problem });
    }
  };
}

function globToRe2(source: string): string {
  let out = "";
  let depth = 0;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === "*" && source[i + 1] === "*") {
      out += ".*";
      i++;
    } else if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else if (c === "{") {
      depth++;
      out += "(?:";
    } else if (c === "," && depth > 0) out += "|";
    else if (c === "}" && depth > 0) {
      depth--;
      out += ")";
    } else out += RE2JS.quote(c);
  }
  if (depth > 0) throw new PatternError(source, "not a valid glob: a { is not closed");
  return out;
}
