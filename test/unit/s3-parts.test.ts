import { MAX_PART_SIZE, MIN_PART_SIZE, planParts } from "../../src/storage/s3-multipart";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const sizes = (plan: ReturnType<typeof planParts>) => plan.map((p) => p.size);

describe("S3 multipart part planning", () => {
  it("copies each big segment as one part and groups small trailing ones into the last part", () => {
    const plan = planParts(
      [
        { path: "a", size: 8 * MiB },
        { path: "b", size: 5 * MiB },
        { path: "c", size: 1000 },
        { path: "d", size: 2000 },
      ],
      MAX_PART_SIZE,
    );
    expect(sizes(plan)).toEqual([8 * MiB, 5 * MiB, 3000]);
    expect(plan[0].pieces).toEqual([{ path: "a", start: 0, end: 8 * MiB - 1, whole: true }]);
    expect(plan[2].pieces.map((p) => p.path)).toEqual(["c", "d"]);
  });

  it("groups small segments until they reach the 5 MiB minimum", () => {
    const plan = planParts(
      Array.from({ length: 12 }, (_, i) => ({ path: `s${i}`, size: MiB })),
      MAX_PART_SIZE,
    );
    expect(sizes(plan)).toEqual([5 * MiB, 5 * MiB, 2 * MiB]);
    expect(plan.slice(0, -1).every((p) => p.size >= MIN_PART_SIZE)).toBe(true);
  });

  it("cuts a source above the maximum part size into even parts of at least 5 MiB", () => {
    const plan = planParts([{ path: "huge", size: 12 * GiB + 1 }], MAX_PART_SIZE);
    expect(plan).toHaveLength(3);
    expect(plan.every((p) => p.size <= MAX_PART_SIZE && p.size >= MIN_PART_SIZE)).toBe(true);
    expect(plan.reduce((n, p) => n + p.size, 0)).toBe(12 * GiB + 1);
    expect(plan.every((p) => !p.pieces[0].whole)).toBe(true);
    expect(plan[1].pieces[0].start).toBe(plan[0].pieces[0].end + 1);
  });

  it("skips empty segments and plans nothing for nothing", () => {
    expect(planParts([], MAX_PART_SIZE)).toEqual([]);
    expect(sizes(planParts([{ path: "e", size: 0 }, { path: "x", size: 10 }], MAX_PART_SIZE))).toEqual([10]);
  });

  it("refuses plans S3 would refuse: too many parts, or a group grown past the maximum", () => {
    expect(() => planParts(Array.from({ length: 10_001 }, (_, i) => ({ path: `p${i}`, size: 5 * MiB })), MAX_PART_SIZE)).toThrow(/10000 parts/);
    expect(() => planParts([{ path: "small", size: 1 }, { path: "big", size: 11 * MiB }], 10 * MiB)).toThrow(/cannot assemble a part/);
  });
});
