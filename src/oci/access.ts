import type { AccessRequirement } from "../auth/authorizer";
import type { RequestContext } from "../http/context";
import { parseRepositoryName } from "../kernel/names";

/** What each /v2 route needs, derived from the request. Names are validated here, before anything else. */
export type AccessRule = (ctx: RequestContext) => AccessRequirement;

const onRepository =
  (...actions: string[]): AccessRule =>
  (ctx) => ({ required: [{ type: "repository", name: parseRepositoryName(ctx.params[0]), actions }] });

export const ACCESS = {
  /** GET /v2/: any valid identity, anonymous tokens included. */
  identity: (() => ({ required: [] })) as AccessRule,
  catalog: (() => ({ required: [{ type: "registry", name: "catalog", actions: ["*"] }] })) as AccessRule,
  pull: onRepository("pull"),
  push: onRepository("push"),
  delete: onRepository("delete"),
  /** Starting an upload needs push; a mount also uses pull on its source when the client holds it. */
  uploadStart: ((ctx) => {
    const from = ctx.query.get("from");
    const required = onRepository("push")(ctx).required;
    return from === null || ctx.query.get("mount") === null
      ? { required }
      : { required, optional: [{ type: "repository", name: parseRepositoryName(from), actions: ["pull"] }] };
  }) as AccessRule,
};
