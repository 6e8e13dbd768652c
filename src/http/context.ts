import type { IncomingMessage, ServerResponse } from "node:http";
import type { Grant } from "../auth/authorizer";

/** What a handler sees of one request: express's req/res plus the route's raw captures. */
export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  path: string;
  query: URLSearchParams;
  /** The route pattern's capture groups, raw (never percent-decoded: every one is validated by a grammar). */
  params: string[];
  /** Set by the route's access guard: who is acting and what they may do. */
  grant?: Grant;
}

export type Handler = (ctx: RequestContext) => Promise<void>;
