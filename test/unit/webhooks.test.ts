// The webhook notifier's queueing on its own, with a fake fetch: bounded queues, batching, filters, and
// what happens to undelivered events at shutdown.
import pino from "pino";
import { WebhookNotifier } from "../../src/events/webhooks";
import type { BerthEvent, EventAction } from "../../src/events/event-bus";
import { Metrics } from "../../src/metrics/metrics";
import type { NotificationEndpointConfig } from "../../src/config/ops";

const logger = pino({ level: "silent" });

function endpoint(extra: Partial<NotificationEndpointConfig> = {}): NotificationEndpointConfig {
  return {
    name: "rx",
    url: "http://receiver.test/hook",
    headers: {},
    actions: ["push", "pull", "delete"],
    repositories: [],
    timeoutSeconds: 1,
    maxAttempts: 3,
    backoffSeconds: 0.01,
    maxBackoffSeconds: 1,
    ...extra,
  };
}

let n = 0;
function event(action: EventAction, repository = "team/app"): BerthEvent {
  const actor = { kind: "user", name: "alice", address: "192.0.2.1" } as const;
  return { id: `e${++n}`, timestamp: new Date(), actor, action, repository, reference: "v1", detail: { digest: `sha256:${"a".repeat(64)}` } } as BerthEvent;
}

/** A fetch whose answers the test releases one by one. */
function gatedFetch() {
  const calls: Array<{ body: { events: Array<{ id: string; action: string }> }; answer: (status: number) => void }> = [];
  const fetchImpl = ((_url: string, init: { body: string; signal: AbortSignal }) =>
    new Promise((resolve, reject) => {
      init.signal.addEventListener("abort", () => reject(new Error("aborted")));
      calls.push({ body: JSON.parse(init.body), answer: (status) => resolve(new Response(null, { status })) });
    })) as unknown as typeof fetch;
  return { calls, fetchImpl };
}

const tick = () => new Promise((r) => setTimeout(r, 20));

describe("WebhookNotifier", () => {
  it("batches what queued up behind a delivery, and drops (and counts) events beyond the queue size", async () => {
    const { calls, fetchImpl } = gatedFetch();
    const metrics = new Metrics({ defaultMetrics: false });
    const notifier = new WebhookNotifier([endpoint()], { queueSize: 3, logger, metrics, source: { addr: "h:1", instanceID: "i" }, fetch: fetchImpl });
    notifier.handle(event("push")); // goes out at once
    await tick();
    for (let i = 0; i < 5; i++) notifier.handle(event("pull")); // 3 queue up, 2 are dropped
    calls[0].answer(200);
    await tick();
    expect(calls).toHaveLength(2);
    expect(calls[1].body.events).toHaveLength(3);
    calls[1].answer(204);
    await notifier.close(100);
    const text = await metrics.registry.metrics();
    expect(text).toContain('berth_notification_events_dropped_total{endpoint="rx",reason="queue_full"} 2');
    expect(text).toContain('berth_notification_attempts_total{endpoint="rx",outcome="success"} 2');
    expect(text).toContain('berth_notification_queue_length{endpoint="rx"} 0');
  });

  it("filters by action and repository pattern, and ignores logins", async () => {
    const { calls, fetchImpl } = gatedFetch();
    const notifier = new WebhookNotifier([endpoint({ actions: ["push"], repositories: ["team/**"] })], { queueSize: 10, logger, source: { addr: "h:1", instanceID: "i" }, fetch: fetchImpl });
    notifier.handle(event("pull"));
    notifier.handle(event("push", "other/app"));
    notifier.handle(event("login"));
    notifier.handle(event("push", "team/deep/app"));
    await tick();
    expect(calls.map((c) => c.body.events.map((e) => e.action))).toEqual([["push"]]);
    calls[0].answer(200);
    await notifier.close(100);
  });

  it("lets a delivery in progress finish at close, then drops (and counts) what could not be sent", async () => {
    const { calls, fetchImpl } = gatedFetch();
    const metrics = new Metrics({ defaultMetrics: false });
    const notifier = new WebhookNotifier([endpoint()], { queueSize: 10, logger, metrics, source: { addr: "h:1", instanceID: "i" }, fetch: fetchImpl });
    notifier.handle(event("push"));
    await tick();
    notifier.handle(event("delete"));
    const closing = notifier.close(200);
    calls[0].answer(200); // the first finishes within the drain time…
    await tick();
    expect(calls).toHaveLength(2); // …and the queued one is attempted, but never answered
    await closing;
    notifier.handle(event("push")); // after close: ignored
    const text = await metrics.registry.metrics();
    expect(text).toContain('berth_notification_events_dropped_total{endpoint="rx",reason="shutdown"} 1');
    expect(calls).toHaveLength(2);
  });
});
