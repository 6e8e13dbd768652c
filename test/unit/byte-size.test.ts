import { ByteSizeError, formatBytes, parseByteSize } from "../../src/config/byte-size";

describe("parseByteSize", () => {
  test.each<[string, number]>([
    ["0", 0],
    ["1024", 1024],
    ["10GiB", 10 * 1024 ** 3],
    ["10 gib", 10 * 1024 ** 3],
    ["500MB", 500_000_000],
    ["1.5TB", 1.5e12],
    ["1.5KiB", 1536],
    ["2k", 2048],
    ["  7 B ", 7],
    ["0.5B", 0],
  ])("%j is %d bytes", (text, bytes) => {
    expect(parseByteSize(text)).toBe(bytes);
  });

  test.each(["", "ten gigs", "-1", "1e3", "1,5GB", "GiB", "1 GiB B", "1\u0000GiB", "0x10", "1.GB", "Infinity"])("refuses %j, saying what to write", (text) => {
    expect(() => parseByteSize(text)).toThrow(ByteSizeError);
    expect(() => parseByteSize(text)).toThrow(/use e\.g\. 500MB, 50GiB or a number of bytes/);
  });
});

describe("formatBytes", () => {
  test.each<[number, string]>([
    [0, "0 B"],
    [1023, "1023 B"],
    [1024, "1.00 KiB"],
    [6 * 1024, "6.00 KiB"],
    [10 * 1024, "10.0 KiB"],
    [100 * 1024 ** 2, "100.0 MiB"],
    [98.2 * 1024 ** 2, "98.2 MiB"],
    [10 * 1024 ** 3, "10.0 GiB"],
    [2 ** 53, "8.00 PiB"],
  ])("%d is %s", (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });

  test("what it writes, parsed again, is within the rounding of the figure", () => {
    for (const bytes of [1536, 5 * 1024 ** 2 + 12345, 3 * 1024 ** 4]) {
      const back = parseByteSize(formatBytes(bytes).replace(" ", ""));
      expect(Math.abs(back - bytes) / bytes).toBeLessThan(0.01);
    }
  });
});
