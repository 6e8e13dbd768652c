import { DomainError } from "./errors";

/** A repository name validated against the distribution spec's grammar, e.g. "team/app/api". */
export type RepositoryName = string & { readonly __repositoryName: unique symbol };
/** A tag validated against the spec's grammar. */
export type TagName = string & { readonly __tagName: unique symbol };

const COMPONENT = "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*";
const NAME_GRAMMAR = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_GRAMMAR = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
// Distribution caps names at 255 characters; clients count the registry host in that, we count the path.
const MAX_NAME_LENGTH = 255;

export function parseRepositoryName(value: string): RepositoryName {
  if (value.length > MAX_NAME_LENGTH) {
    throw new DomainError("NameInvalid", `repository name must not be longer than ${MAX_NAME_LENGTH} characters`);
  }
  if (!NAME_GRAMMAR.test(value)) throw new DomainError("NameInvalid", `invalid repository name: ${value.slice(0, 100)}`);
  return value as RepositoryName;
}

export function parseTag(value: string): TagName {
  if (!TAG_GRAMMAR.test(value)) throw new DomainError("TagInvalid", `invalid tag: ${value.slice(0, 140)}`);
  return value as TagName;
}

/** The project a repository belongs to: its first path segment ("team" for "team/app/api"). */
export function projectOf(repository: string): string {
  const slash = repository.indexOf("/");
  return slash === -1 ? repository : repository.slice(0, slash);
}
