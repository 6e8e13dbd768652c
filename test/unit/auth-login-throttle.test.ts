// The failed-login throttle, driven by an injected clock.
import { LoginThrottle } from "../../src/auth/login-throttle";

describe("LoginThrottle", () => {
  let now: number;
  const clock = () => now;
  beforeEach(() => {
    now = 1_700_000_000_000;
  });

  it("allows attempts until maxFailures failures, then asks to wait until the oldest failure leaves the window", () => {
    const throttle = new LoginThrottle(3, 60_000, clock);
    expect(throttle.retryAfter("alice", "10.0.0.1")).toBe(0);
    throttle.fail("alice", "10.0.0.1");
    now += 10_000;
    throttle.fail("alice", "10.0.0.1");
    expect(throttle.retryAfter("alice", "10.0.0.1")).toBe(0);
    now += 10_000;
    throttle.fail("alice", "10.0.0.1");
    // Oldest failure at t0; now t0+20 s; the window is 60 s → 40 s to go.
    expect(throttle.retryAfter("alice", "10.0.0.1")).toBe(40);
    now += 39_500;
    expect(throttle.retryAfter("alice", "10.0.0.1")).toBe(1);
    now += 600; // the first failure has left the window
    expect(throttle.retryAfter("alice", "10.0.0.1")).toBe(0);
  });

  it("always answers at least 1 second while throttled", () => {
    const throttle = new LoginThrottle(1, 1_000, clock);
    throttle.fail("bob", "a");
    now += 999;
    expect(throttle.retryAfter("bob", "a")).toBe(1);
  });

  it("counts per account and address", () => {
    const throttle = new LoginThrottle(2, 60_000, clock);
    throttle.fail("alice", "10.0.0.1");
    throttle.fail("alice", "10.0.0.1");
    expect(throttle.retryAfter("alice", "10.0.0.1")).toBeGreaterThan(0);
    expect(throttle.retryAfter("alice", "10.0.0.2")).toBe(0);
    expect(throttle.retryAfter("bob", "10.0.0.1")).toBe(0);
  });

  it("forgets failures after a successful login", () => {
    const throttle = new LoginThrottle(2, 60_000, clock);
    throttle.fail("alice", "ip");
    throttle.succeed("alice", "ip");
    throttle.fail("alice", "ip");
    expect(throttle.retryAfter("alice", "ip")).toBe(0);
  });

  it("only counts failures inside the sliding window", () => {
    const throttle = new LoginThrottle(3, 60_000, clock);
    throttle.fail("alice", "ip");
    now += 30_000;
    throttle.fail("alice", "ip");
    now += 31_000; // the first one is out
    throttle.fail("alice", "ip");
    expect(throttle.retryAfter("alice", "ip")).toBe(0);
    throttle.fail("alice", "ip");
    // Oldest in window is at t0+30 s, now t0+61 s → 29 s left.
    expect(throttle.retryAfter("alice", "ip")).toBe(29);
  });

  it("keeps a lockout on a real account through a flood of failures under made-up names", () => {
    const throttle = new LoginThrottle(2, 60_000, clock, 10);
    throttle.fail("alice", "ip");
    throttle.fail("alice", "ip");
    expect(throttle.retryAfter("alice", "ip")).toBeGreaterThan(0);
    // Far more than the cap, from the same address, each found to be no account after the check.
    for (let i = 0; i < 1_000; i++) {
      throttle.fail(`random-${i}`, "ip");
      throttle.unknownAccount(`random-${i}`, "ip");
    }
    expect(throttle.retryAfter("alice", "ip")).toBeGreaterThan(0);
  });

  it("keeps failures under a name that became an account, though they were made while it was unknown", () => {
    const throttle = new LoginThrottle(2, 60_000, clock, 10);
    throttle.fail("bob", "ip");
    throttle.unknownAccount("bob", "ip");
    throttle.fail("bob", "ip"); // bob exists now: the check does not call unknownAccount
    for (let i = 0; i < 1_000; i++) {
      throttle.fail(`random-${i}`, "ip");
      throttle.unknownAccount(`random-${i}`, "ip");
    }
    expect(throttle.retryAfter("bob", "ip")).toBeGreaterThan(0);
  });

  it("still throttles made-up names, so a 429 tells nothing about whether a name exists", () => {
    const throttle = new LoginThrottle(2, 60_000, clock, 10);
    for (const name of ["alice", "nobody"]) {
      throttle.fail(name, "ip");
      if (name === "nobody") throttle.unknownAccount(name, "ip");
      throttle.fail(name, "ip");
      if (name === "nobody") throttle.unknownAccount(name, "ip");
    }
    expect(throttle.retryAfter("nobody", "ip")).toBe(throttle.retryAfter("alice", "ip"));
    expect(throttle.retryAfter("nobody", "ip")).toBeGreaterThan(0);
    throttle.succeed("nobody", "ip");
    expect(throttle.retryAfter("nobody", "ip")).toBe(0);
  });

  it("bounds each table by its cap, evicting the entry that failed longest ago", () => {
    const throttle = new LoginThrottle(1, 60_000, clock, 2);
    throttle.fail("a", "ip");
    throttle.fail("b", "ip");
    throttle.fail("a", "ip"); // a failed again: b is now the oldest
    throttle.fail("c", "ip");
    expect(throttle.retryAfter("a", "ip")).toBeGreaterThan(0);
    expect(throttle.retryAfter("b", "ip")).toBe(0);
    expect(throttle.retryAfter("c", "ip")).toBeGreaterThan(0);
  });
});
