// The pure parts of garbage collection: durations, schedules, projects, retention and immutability rules,
// and their configuration.
import { parseConfig } from "../../src/config";
import { formatDuration, parseDuration } from "../../src/config/duration";
import { ImmutableTags, projectGlob, projectOf, RetentionRules, tagsToDelete, tagsToDeleteByAll, type TagInfo } from "../../src/gc/rules";
import { parseSchedule } from "../../src/config/schedule";
import { GcScheduler } from "../../src/gc/scheduler";

describe("durations", () => {
  test.each([
    ["0", 0],
    ["90s", 90_000],
    ["15m", 900_000],
    ["1h30m", 5_400_000],
    ["7d", 604_800_000],
    ["2w", 1_209_600_000],
    ["500ms", 500],
    ["1.5h", 5_400_000],
    [" 1h ", 3_600_000],
  ])("%s", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  test.each(["", "1", "h", "1x", "1h 30m", "-1h", "1hh"])("refuses %j", (text) => {
    expect(() => parseDuration(text)).toThrow(/duration/);
  });

  test("formats the shortest exact spelling", () => {
    expect([0, 3_600_000, 5_400_000, 90_061_000, 1].map(formatDuration)).toEqual(["0", "1h", "1h30m", "1d1h1m1s", "1ms"]);
  });
});

describe("schedules", () => {
  // Local time: cron runs in the server's zone.
  const at = (y: number, mo: number, d: number, h = 0, mi = 0) => new Date(y, mo - 1, d, h, mi);

  test.each([
    ["0 3 * * *", at(2026, 1, 1, 2, 59), at(2026, 1, 1, 3, 0)],
    ["0 3 * * *", at(2026, 1, 1, 3, 0), at(2026, 1, 2, 3, 0)],
    ["*/15 * * * *", at(2026, 1, 1, 10, 7), at(2026, 1, 1, 10, 15)],
    ["30 1-3 * * *", at(2026, 1, 1, 3, 30), at(2026, 1, 2, 1, 30)],
    ["0 0 1 * *", at(2026, 1, 15), at(2026, 2, 1)],
    ["0 0 * * 0", at(2026, 11, 24), at(2026, 11, 29)], // Tuesday -> Sunday
    ["0 0 * * 7", at(2026, 11, 24), at(2026, 11, 29)], // 7 is Sunday too
    ["0 12 13 * 5", at(2026, 11, 1), at(2026, 11, 6, 12)], // day 13 OR Friday (Vixie)
    ["0 0 29 2 *", at(2026, 3, 1), at(2028, 2, 29)],
    ["@daily", at(2026, 1, 1, 12), at(2026, 1, 2)],
    ["@hourly", at(2026, 1, 1, 12, 1), at(2026, 1, 1, 13)],
  ])("%s after %s", (text, after, next) => {
    expect(parseSchedule(text).next(after)).toEqual(next);
  });

  test("@every counts from the given time", () => {
    expect(parseSchedule("@every 6h").next(new Date(1000))).toEqual(new Date(1000 + 6 * 3_600_000));
  });

  test.each([
    ["* * * *", /5 fields/],
    ["60 * * * *", /minute field/],
    ["* 24 * * *", /hour field/],
    ["5-1 * * * *", /minute field/],
    ["*/0 * * * *", /step/],
    ["@often", /unknown schedule/],
    ["@every 10ms", /at least 1s/],
    ["@every soon", /invalid duration/],
    ["0 0 31 2 *", /never comes due/],
  ])("refuses %j when parsed, before anything stores or arms it", (text, message) => {
    expect(() => parseSchedule(text)).toThrow(message);
  });

  test("the scheduler runs the job when due, re-arms after it, and stop waits for a running job", async () => {
    jest.useFakeTimers();
    try {
      let now = new Date(0);
      const runs: number[] = [];
      let finish!: () => void;
      const scheduler = new GcScheduler(
        parseSchedule("@every 10s"),
        () => {
          runs.push(now.getTime());
          return new Promise<void>((r) => (finish = r));
        },
        undefined,
        () => now,
      );
      scheduler.start();
      expect(scheduler.nextRun).toEqual(new Date(10_000));
      now = new Date(10_000);
      await jest.advanceTimersByTimeAsync(10_000);
      expect(runs).toEqual([10_000]);
      // A long run: the next one is counted from its end.
      now = new Date(25_000);
      finish();
      await jest.advanceTimersByTimeAsync(0);
      expect(scheduler.nextRun).toEqual(new Date(35_000));
      now = new Date(35_000);
      await jest.advanceTimersByTimeAsync(10_000);
      expect(runs).toEqual([10_000, 35_000]);
      let stopped = false;
      const stopping = scheduler.stop().then(() => (stopped = true));
      await jest.advanceTimersByTimeAsync(0);
      expect(stopped).toBe(false);
      finish();
      await stopping;
      expect(scheduler.nextRun).toBeNull();
      await jest.advanceTimersByTimeAsync(60_000);
      expect(runs).toHaveLength(2);
    } finally {
      jest.useRealTimers();
    }
  });
});

describe("projects and rules", () => {
  test("a project is the first path segment", () => {
    expect(["team/app/api", "team/app", "alpine"].map(projectOf)).toEqual(["team", "team", "alpine"]);
    expect(projectGlob("team-*").test("team-a")).toBe(true);
    expect(projectGlob("team-*").test("teamx")).toBe(false);
    expect(projectGlob("t?am").test("team")).toBe(true);
    expect(projectGlob("a.b").test("axb")).toBe(false); // dots are literal
  });

  test("immutable tags: project glob and whole-tag regular expressions", () => {
    const rules = new ImmutableTags([
      { project: "rel*", tags: ["v\\d+\\.\\d+\\.\\d+"] },
      { project: "*", tags: ["stable"] },
    ]);
    expect(rules.ruleFor("release/app", "v1.2.3")).toMatch(/project rel\*/);
    expect(rules.ruleFor("release/app", "v1.2.3-rc1")).toBeNull(); // whole-tag match
    expect(rules.ruleFor("dev/app", "v1.2.3")).toBeNull();
    expect(rules.ruleFor("dev/app", "stable")).not.toBeNull();
    expect(new ImmutableTags([]).empty).toBe(true);
  });

  const day = 86_400_000;
  const now = new Date(100 * day);
  const tags = (spec: Record<string, number>): TagInfo[] =>
    Object.entries(spec).map(([name, ageDays]) => ({ name, updatedAt: new Date(now.getTime() - ageDays * day) }));
  const doomed = (rule: ConstructorParameters<typeof RetentionRules>[0][number], list: TagInfo[], immutable: string[] = []) => {
    const compiled = new RetentionRules([rule]).rulesFor("p/x")[0];
    return tagsToDelete(compiled, list, now, (t) => immutable.includes(t)).map((t) => t.name).sort();
  };

  test("keep newest N counts every tag, newest first, ties by name", () => {
    const list = tags({ a: 1, b: 2, c: 3, d: 4, e: 4 });
    expect(doomed({ project: "p", keepLatest: 2, keepTags: [] }, list)).toEqual(["c", "d", "e"]);
    expect(doomed({ project: "p", keepLatest: 4, keepTags: [] }, list)).toEqual(["d"]); // e sorts first among equals
    expect(doomed({ project: "p", keepLatest: 0, keepTags: [] }, list)).toEqual(["a", "b", "c", "d", "e"]);
  });

  test("delete older than D days; with keepLatest only tags both old and beyond N go", () => {
    const list = tags({ a: 1, b: 8, c: 30, d: 31 });
    expect(doomed({ project: "p", deleteOlderThanDays: 7, keepTags: [] }, list)).toEqual(["b", "c", "d"]);
    expect(doomed({ project: "p", deleteOlderThanDays: 7, keepLatest: 2, keepTags: [] }, list)).toEqual(["c", "d"]);
    expect(doomed({ project: "p", deleteOlderThanDays: 0.5, keepLatest: 10, keepTags: [] }, list)).toEqual([]);
  });

  test("patterns and immutable tags are always kept", () => {
    const list = tags({ latest: 50, "v1.0": 60, nightly: 40, x: 1 });
    expect(doomed({ project: "p", keepLatest: 1, keepTags: ["latest", "v.*"] }, list, ["nightly"])).toEqual([]);
    expect(doomed({ project: "p", keepLatest: 1, keepTags: ["v\\d"] }, list)).toEqual(["latest", "nightly", "v1.0"]); // whole-tag match
  });

  test("the first rule whose project matches applies", () => {
    const rules = new RetentionRules([
      { project: "team", keepLatest: 1, keepTags: [] },
      { project: "*", keepLatest: 5, keepTags: [] },
    ]);
    expect(rules.rulesFor("team/app").map((r) => r.keepLatest)).toEqual([1]);
    expect(rules.rulesFor("other/app").map((r) => r.keepLatest)).toEqual([5]);
    expect(new RetentionRules([{ project: "team", keepLatest: 1, keepTags: [] }]).rulesFor("other/app")).toEqual([]);
  });

  test("rules stored for a project add to the configured one; a tag goes only when every rule deletes it", () => {
    const rules = new RetentionRules([{ project: "*", keepLatest: 3, keepTags: [] }], [
      { project: "team", deleteOlderThanDays: 7, keepTags: [] },
      { project: "team", keepLatest: 10, keepTags: ["keep-.*"] },
    ]);
    expect(rules.rulesFor("other/app")).toHaveLength(1);
    const applicable = rules.rulesFor("team/app");
    expect(applicable.map((r) => [r.keepLatest, r.deleteOlderThanDays])).toEqual([[3, undefined], [undefined, 7], [10, undefined]]);
    const list = tags(Object.fromEntries(Array.from({ length: 14 }, (_, i) => [`t${i}`, i * 2])));
    list.push(...tags({ "keep-me": 100 }));
    const names = tagsToDeleteByAll(applicable, list, now, () => false).map((t) => t.name).sort();
    expect(names).toEqual(["t10", "t11", "t12", "t13"]); // beyond the newest 10 and older than 7 days; keep-me kept by a pattern
    expect(tagsToDeleteByAll([], list, now, () => false)).toEqual([]);
  });
});

describe("gc configuration", () => {
  test("defaults", () => {
    const c = parseConfig({});
    expect(c.gc).toEqual({ grace: 3_600_000, untagged: true, uploadTimeout: 86_400_000, retention: true, batchSize: 500, batchPause: 0 });
    expect(c.retention).toEqual([]);
    expect(c.immutableTags).toEqual([]);
  });

  test("durations as strings or seconds, a schedule, rules", () => {
    const c = parseConfig({
      gc: { grace: "30m", uploadTimeout: 7200, schedule: "0 3 * * *", batchPause: "10ms" },
      retention: [{ project: "team", keepLatest: 10, keepTags: ["latest"] }],
      immutableTags: [{ project: "*", tags: ["v.*"] }],
    });
    expect(c.gc).toMatchObject({ grace: 1_800_000, uploadTimeout: 7_200_000, schedule: "0 3 * * *", batchPause: 10 });
    expect(c.retention[0]).toEqual({ project: "team", keepLatest: 10, keepTags: ["latest"] });
  });

  test.each([
    [{ gc: { grace: "soon" } }, /gc\.grace: invalid duration/],
    [{ gc: { schedule: "every day" } }, /gc\.schedule: schedule "every day"/],
    [{ gc: { schedule: "0 0 30 2 *" } }, /gc\.schedule: schedule "0 0 30 2 \*" never comes due/],
    [{ gc: { batchSize: 0 } }, /gc\.batchSize/],
    [{ gc: { colour: "blue" } }, /gc\.colour: Unrecognized key/],
    [{ retention: [{ project: "team" }] }, /retention\.0: a retention rule needs keepLatest, deleteOlderThanDays or both/],
    [{ retention: [{ project: "team", keepLatest: 1, keepTags: ["("] }] }, /retention\.0\.keepTags\.0: not a valid regular expression/],
    [{ retention: [{ project: "Team/x", keepLatest: 1 }] }, /retention\.0\.project/],
    [{ immutableTags: [{ project: "*", tags: [] }] }, /immutableTags\.0\.tags/],
  ])("refuses %j", (raw, message) => {
    expect(() => parseConfig(raw)).toThrow(message);
  });
});
