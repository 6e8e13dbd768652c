import { decodeUtf8, jsonTextProblem, JsonInputError, MAX_JSON_DEPTH, parseJson, storableText, textProblem } from "../../src/kernel/text";

describe("textProblem", () => {
  test.each([
    ["a\u0000b", /NUL/],
    ["\ud800", /surrogate/],
    ["x\udc00", /surrogate/],
  ])("refuses %j", (value, reason) => expect(textProblem(value)).toMatch(reason));

  test.each(["", "plain", "é", "\u{1F600}", "\u2400"])("accepts %j (a surrogate pair is fine)", (value) => expect(textProblem(value)).toBeNull());
});

test("decodeUtf8 refuses invalid UTF-8 and encoded surrogates", () => {
  expect(decodeUtf8(Buffer.from([0xc3, 0x28]))).toBeNull();
  expect(decodeUtf8(Buffer.from([0xff]))).toBeNull();
  expect(decodeUtf8(Buffer.from([0xed, 0xa0, 0x80]))).toBeNull();
  expect(decodeUtf8(Buffer.from("é\u{1F600}"))).toBe("é\u{1F600}");
});

describe("parseJson", () => {
  const nested = (depth: number) => "[".repeat(depth) + "]".repeat(depth);

  test("accepts nesting up to the limit and refuses one level more", () => {
    expect(() => parseJson(nested(MAX_JSON_DEPTH))).not.toThrow();
    expect(() => parseJson(nested(MAX_JSON_DEPTH + 1))).toThrow(new JsonInputError(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`));
    expect(() => parseJson('{"a":'.repeat(100_000) + "1" + "}".repeat(100_000))).toThrow(JsonInputError);
  });

  test("brackets inside strings (escaped quotes included) do not count", () => {
    const text = JSON.stringify({ s: "[[[[\\\"{{{{".repeat(100) });
    expect(parseJson(text)).toEqual(JSON.parse(text));
  });

  test("malformed JSON is a JsonInputError", () => {
    expect(() => parseJson("{nope")).toThrow(new JsonInputError("not valid JSON"));
  });
});

test("jsonTextProblem finds NUL and lone surrogates in values and keys at any depth", () => {
  expect(jsonTextProblem({ a: [{ b: "ok" }], c: 1 })).toBeNull();
  expect(jsonTextProblem({ a: [{ b: "x\u0000" }] })).toMatch(/^a\.0\.b: .*NUL/);
  expect(jsonTextProblem({ a: { "k\ud800": 1 } })).toMatch(/^a: a key .*surrogate/);
  expect(jsonTextProblem("\u0000")).toMatch(/^\(body\)/);
});

test("storableText keeps the text visible and storable", () => {
  expect(storableText("a\u0000b\ud800c")).toBe("a\u2400b\uFFFDc");
  expect(storableText("ok \u{1F600}")).toBe("ok \u{1F600}");
});
