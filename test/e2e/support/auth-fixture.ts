// What the docker and podman auth e2e suites start from: Berth with token auth on, a private project
// (a developer member) and a public one, each already holding the tiny image, put there by the admin.
import { ADMIN_PASSWORD, addUser, startAuthRegistry, uniqueName, type Creds } from "../../support/auth-helpers";
import type { TestRegistry } from "../../support/registry";
import { dockerRef, skopeoCopy } from "./skopeo";

export const ADMIN_CREDS = `admin:${ADMIN_PASSWORD}`;

export interface AuthFixture {
  registry: TestRegistry;
  /** Private; `dev` is a developer there. Holds `<team>/base:v1`. */
  team: string;
  /** Public. Holds `<open>/tiny:v1`. */
  open: string;
  dev: Creds;
}

/** `tinyRef`: the oci: reference of the image to put in place (with skopeo, which auth-skopeo tests). */
export async function startAuthFixture(tinyRef: string): Promise<AuthFixture> {
  const registry = await startAuthRegistry();
  const team = uniqueName("team");
  const open = uniqueName("open");
  await registry.deps.auth.accounts.addProject(team);
  await registry.deps.auth.accounts.addProject(open, { public: true });
  const dev = await addUser(registry, "dev");
  await registry.deps.auth.accounts.setMember(team, dev.username, "developer");
  await skopeoCopy(tinyRef, dockerRef(registry.host, `${team}/base`, "v1"), { destCreds: ADMIN_CREDS });
  await skopeoCopy(tinyRef, dockerRef(registry.host, `${open}/tiny`, "v1"), { destCreds: ADMIN_CREDS });
  return { registry, team, open, dev };
}
