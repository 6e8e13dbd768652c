// The one event path's parts: the bus isolates a failing subscriber from the others, the vocabulary's
// "admin" category, how an account change is named, and that only registry events become notifications.
import { Writable } from "node:stream";
import pino from "pino";
import { userChangeEvent } from "../../src/events/admin-events";
import { EventBus, type BerthEvent } from "../../src/events/event-bus";
import { toNotificationEvent } from "../../src/events/notification-envelope";
import { actionsInCategory, REGISTRY_ACTIONS, type Actor } from "../../src/events/vocabulary";

const actor: Actor = { kind: "user", name: "alice", address: "192.0.2.1" };

describe("EventBus", () => {
  it("hands every event to the subscribers after a failing one, and logs the failure", () => {
    const lines: string[] = [];
    const logger = pino({ level: "error" }, new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) }));
    const bus = new EventBus(logger);
    const audit: string[] = [];
    const webhooks: string[] = [];
    bus.subscribe((e) => audit.push(e.action));
    bus.subscribe(() => {
      throw new Error("subscriber down");
    });
    bus.subscribe((e) => webhooks.push(e.action));

    bus.record({ action: "user.created", actor, reference: "user bob", detail: { isAdmin: false } });
    bus.record({ action: "delete", actor, repository: "team/app", reference: "v1", detail: { via: "web" } });

    expect(audit).toEqual(["user.created", "delete"]);
    expect(webhooks).toEqual(["user.created", "delete"]);
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      expect.objectContaining({ msg: "an event listener failed", action: "user.created", err: expect.objectContaining({ message: "subscriber down" }) }),
      expect.objectContaining({ msg: "an event listener failed", action: "delete" }),
    ]);
  });
});

describe("the event vocabulary", () => {
  it('"admin" stands for every action but the registry and authentication ones', () => {
    const admin = actionsInCategory("admin")!;
    expect(admin).toEqual(expect.arrayContaining(["user.created", "robot.created", "member.set", "rule.updated", "gc.run", "project.visibility_changed"]));
    for (const action of [...REGISTRY_ACTIONS, "login", "token"]) expect(admin).not.toContain(action);
    expect(actionsInCategory("push")).toBeNull();
  });

  it("names an account change for what changed", () => {
    expect(userChangeEvent("bob", { password: "x" })).toEqual({ action: "user.password_changed", reference: "user bob", detail: {} });
    expect(userChangeEvent("bob", { disabled: true })).toMatchObject({ action: "user.disabled" });
    expect(userChangeEvent("bob", { disabled: false })).toMatchObject({ action: "user.enabled" });
    expect(userChangeEvent("bob", { disabled: true, password: "x", isAdmin: undefined })).toEqual({
      action: "user.updated",
      reference: "user bob",
      detail: { disabled: true, passwordChanged: true },
    });
  });

  it("only registry events become webhook notifications", () => {
    const source = { addr: "host:5000", instanceID: "i1" };
    const at = { id: "e1", timestamp: new Date() };
    const webDelete: BerthEvent = { ...at, action: "delete", actor, repository: "team/app", reference: "v1", detail: { via: "web" } };
    expect(toNotificationEvent(webDelete, source)).toMatchObject({ action: "delete", target: { repository: "team/app", tag: "v1" }, actor: { name: "alice" } });
    const ruleChange: BerthEvent = { ...at, action: "rule.created", actor, repository: "team/app", reference: "rule 1", detail: { change: "immutable rule created", project: "team", kind: "immutable", spec: {} } };
    expect(toNotificationEvent(ruleChange, source)).toBeNull();
  });
});
