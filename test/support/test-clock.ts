import type { Clock } from "../../src/kernel/clock";

/** The system time plus an offset the test moves: the server sees a TTL pass without anyone waiting for it. */
export class TestClock implements Clock {
  private offset = 0;

  now(): number {
    return Date.now() + this.offset;
  }

  advance(ms: number): void {
    this.offset += ms;
  }

  reset(): void {
    this.offset = 0;
  }
}
