// Scopes of the Docker registry token spec: parsing what clients ask for, merging, intersecting with rights.
import { allows, coversAll, formatScope, intersect, mergeAccess, parseScope, parseScopes, type Access } from "../../src/auth/scope";

const repo = (name: string, ...actions: string[]): Access => ({ type: "repository", name, actions });

describe("parseScope / parseScopes", () => {
  it("parses a plain repository scope", () => {
    expect(parseScope("repository:team/app:pull")).toEqual(repo("team/app", "pull"));
    expect(parseScope("repository:team/app:pull,push")).toEqual(repo("team/app", "pull", "push"));
    expect(parseScope("repository:app:delete")).toEqual(repo("app", "delete"));
  });

  it("keeps nested names whole", () => {
    expect(parseScope("repository:team/group/sub/app:pull,push")).toEqual(repo("team/group/sub/app", "pull", "push"));
  });

  it("takes the actions after the LAST colon, so host:port names survive", () => {
    expect(parseScope("repository:localhost:5000/team/app:pull")).toEqual(repo("localhost:5000/team/app", "pull"));
    expect(parseScope("repository:registry.example.com:443/a:push,pull")).toEqual(repo("registry.example.com:443/a", "push", "pull"));
  });

  it("reads a resource class like repository(plugin) as its base type, granting nothing extra", () => {
    expect(parseScope("repository(plugin):vieux/sshfs:pull")).toEqual(repo("vieux/sshfs", "pull"));
    // The class never turns into a different or wider type.
    expect(parseScope("registry(plugin):catalog:*")).toEqual({ type: "registry", name: "catalog", actions: ["*"] });
    // Not a well-formed class: not a type we know.
    expect(parseScope("repository(plug in):a:pull")).toBeNull();
    expect(parseScope("repository():a:pull")).toBeNull();
  });

  it("accepts registry:catalog:* (and nothing else of type registry)", () => {
    expect(parseScope("registry:catalog:*")).toEqual({ type: "registry", name: "catalog", actions: ["*"] });
    expect(parseScope("registry:other:*")).toBeNull();
  });

  it("drops unknown types, unknown actions and malformed items", () => {
    expect(parseScope("plugin:x:pull")).toBeNull();
    expect(parseScope("repository:a:admin")).toBeNull();
    expect(parseScope("repository:a:pull,admin,push")).toEqual(repo("a", "pull", "push"));
    expect(parseScope("repository:a")).toBeNull();
    expect(parseScope("repository::pull")).toBeNull();
    expect(parseScope("repository:a:")).toBeNull();
    expect(parseScope(":a:pull")).toBeNull();
    expect(parseScope("")).toBeNull();
    expect(parseScope("repository:a:,,")).toBeNull();
  });

  it("drops a registry:catalog scope whose actions are all unknown instead of keeping an empty entry", () => {
    // "What cannot be granted is dropped": an entry with no actions is noise in the token's access claim.
    expect(parseScopes(["registry:catalog:search"])).toEqual([]);
  });

  it("reads several space-separated scopes in one value and repeated scope parameters", () => {
    const parsed = parseScopes(["repository:a/b:pull repository:c:push", "registry:catalog:*", "repository:a/b:push"]);
    expect(parsed).toEqual([repo("a/b", "pull", "push"), repo("c", "push"), { type: "registry", name: "catalog", actions: ["*"] }]);
  });

  it("ignores empty items from doubled spaces and drops bad items without losing good ones", () => {
    expect(parseScopes(["  repository:a:pull   bogus repository(x):b:push  "])).toEqual([repo("a", "pull"), repo("b", "push")]);
    expect(parseScopes([])).toEqual([]);
    expect(parseScopes([""])).toEqual([]);
  });

  it("formats scopes back in the spec's form", () => {
    expect(formatScope(repo("team/app", "pull", "push"))).toBe("repository:team/app:pull,push");
    expect(formatScope({ type: "registry", name: "catalog", actions: ["*"] })).toBe("registry:catalog:*");
    expect(formatScope(parseScope("repository:localhost:5000/x:pull")!)).toBe("repository:localhost:5000/x:pull");
  });
});

describe("mergeAccess", () => {
  it("unions the actions of one resource named twice, without duplicates", () => {
    expect(mergeAccess([repo("a", "pull"), repo("a", "push", "pull"), repo("b", "pull")])).toEqual([repo("a", "pull", "push"), repo("b", "pull")]);
  });

  it("keeps resources of different types apart and does not mutate its input", () => {
    const input = [repo("catalog", "pull"), { type: "registry" as const, name: "catalog", actions: ["*"] }, repo("catalog", "push")];
    const snapshot = JSON.parse(JSON.stringify(input));
    expect(mergeAccess(input)).toEqual([repo("catalog", "pull", "push"), { type: "registry", name: "catalog", actions: ["*"] }]);
    expect(input).toEqual(snapshot);
  });
});

describe("intersect", () => {
  it("grants only what was asked and what is permitted, resource by resource", () => {
    const requested = [repo("a", "pull", "push"), repo("b", "pull", "push", "delete"), repo("c", "push")];
    const rights: Record<string, string[]> = { a: ["pull"], b: ["pull", "push", "delete"], c: ["pull"] };
    expect(intersect(requested, (r) => rights[r.name] ?? [])).toEqual([repo("a", "pull"), repo("b", "pull", "push", "delete")]);
  });

  it("never grants more than requested, even with wide rights", () => {
    expect(intersect([repo("a", "pull")], () => ["pull", "push", "delete"])).toEqual([repo("a", "pull")]);
    expect(intersect([repo("a", "pull")], () => ["*"])).toEqual([repo("a", "pull")]);
  });

  it("drops resources the principal has no right on", () => {
    expect(intersect([repo("a", "pull"), repo("b", "pull")], (r) => (r.name === "b" ? ["pull"] : []))).toEqual([repo("b", "pull")]);
  });

  it("does not let a requested '*' through without a '*' right", () => {
    expect(intersect([repo("a", "*")], () => ["pull", "push", "delete"])).toEqual([]);
  });
});

describe("allows / coversAll", () => {
  const granted = [repo("a", "pull", "push"), { type: "registry" as const, name: "catalog", actions: ["*"] }];

  it("allows exactly the granted actions on exactly the named resource", () => {
    expect(allows(granted, "repository", "a", "pull")).toBe(true);
    expect(allows(granted, "repository", "a", "delete")).toBe(false);
    expect(allows(granted, "repository", "a/b", "pull")).toBe(false);
    expect(allows(granted, "repository", "ab", "pull")).toBe(false);
    expect(allows(granted, "registry", "catalog", "*")).toBe(true);
    // A "registry" grant says nothing about a repository of the same name.
    expect(allows(granted, "repository", "catalog", "pull")).toBe(false);
  });

  it("covers all only when every action of every required resource is granted", () => {
    expect(coversAll(granted, [repo("a", "pull")])).toBe(true);
    expect(coversAll(granted, [repo("a", "pull", "push")])).toBe(true);
    expect(coversAll(granted, [repo("a", "pull", "delete")])).toBe(false);
    expect(coversAll(granted, [repo("a", "pull"), repo("b", "pull")])).toBe(false);
    expect(coversAll(granted, [])).toBe(true);
    expect(coversAll([], [repo("a", "pull")])).toBe(false);
  });
});
