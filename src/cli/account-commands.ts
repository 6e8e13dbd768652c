import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { Config } from "../config";
import { AccountService } from "../auth/account-service";
import { AccessSettings } from "../auth/auth-settings";
import { LiveSettings } from "../metadata/live-settings";
import { generateSecret } from "../auth/passwords";
import type { RobotPermission } from "../auth/principal";
import { KeyRing } from "../auth/signing-keys";
import { openDatabase } from "../metadata/database";
import { createStores, type Stores } from "../metadata/stores";
import { auditedEvents, createLogger } from "../deps";
import { robotChangeEvent, robotCreatedEvent, robotEvent, userChangeEvent } from "../events/admin-events";
import { CLI_ACTOR, type UnattributedEvent } from "../events/vocabulary";
import { UsageError, type Command } from "./command";
import { DATE_FORMAT_HINT, parseCalendarDate } from "../kernel/calendar-date";

/** Records what a command did, as the operator's `berth` command (the audit log is written before exit). */
type RecordEvent = (event: UnattributedEvent) => void;

/** Opens the database and the event path (the audit log subscribed) for one command, and closes both after. */
async function withEvents<T>(config: Config, work: (stores: Stores, record: RecordEvent) => Promise<T>): Promise<T> {
  const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  const stores = createStores(database, { defaultProjectQuotaBytes: config.projects.defaultQuota });
  const { events, audit } = auditedEvents(stores, createLogger({ logLevel: "warn", logFormat: config.logFormat }));
  try {
    return await work(stores, (event) => events.record({ ...event, actor: CLI_ACTOR }));
  } finally {
    await audit.close();
    await database.close();
  }
}

function withAccounts<T>(config: Config, work: (accounts: AccountService, record: RecordEvent) => Promise<T>): Promise<T> {
  return withEvents(config, async (stores, record) => {
    // A project made here without --public gets the default visibility in force (Settings page, else config).
    const live = new LiveSettings(stores.settings);
    await live.refresh();
    const access = new AccessSettings(config.auth, live);
    return work(new AccountService(stores.accounts, () => access.defaultPublic), record);
  });
}

function password(values: { password?: string; "password-stdin"?: boolean }): { value: string; generated: boolean } {
  if (values["password-stdin"]) return { value: readFileSync(0, "utf8").replace(/\r?\n$/, ""), generated: false };
  if (values.password !== undefined) return { value: values.password, generated: false };
  return { value: generateSecret(18), generated: true };
}

function positionals(args: string[], count: number, usage: string): string[] {
  if (args.length !== count) throw new UsageError(usage);
  return args;
}

const passwordOptions = { password: { type: "string" }, "password-stdin": { type: "boolean" } } as const;

export const userCommand: Command = {
  summary: "manage users: add | passwd | admin | rm | list",
  usage: `berth user add <name> [--admin] [--password P | --password-stdin]   (a password is generated and printed if none is given)
berth user passwd <name> [--password P | --password-stdin]
berth user admin <name> [--revoke]   (grant, or with --revoke take away, admin rights; the last enabled admin keeps them)
berth user rm <name>
berth user list`,
  async run(config, args) {
    const [sub, ...rest] = args;
    const { values, positionals: names } = parseArgs({ args: rest, allowPositionals: true, options: { ...passwordOptions, admin: { type: "boolean" }, revoke: { type: "boolean" } } });
    return withAccounts(config, async (accounts, record) => {
      switch (sub) {
        case "add": {
          const [name] = positionals(names, 1, "berth user add <name>");
          const pw = password(values);
          const user = await accounts.addUser(name, pw.value, values.admin ?? false);
          record({ action: "user.created", reference: `user ${name}`, detail: { isAdmin: user.isAdmin } });
          console.log(pw.generated ? `created user ${name} with password: ${pw.value}` : `created user ${name}`);
          return 0;
        }
        case "passwd": {
          const [name] = positionals(names, 1, "berth user passwd <name>");
          const pw = password(values);
          await accounts.updateUser(name, { password: pw.value });
          record(userChangeEvent(name, { password: pw.value }));
          console.log(pw.generated ? `new password for ${name}: ${pw.value}` : `password of ${name} changed`);
          return 0;
        }
        case "admin": {
          const [name] = positionals(names, 1, "berth user admin <name> [--revoke]");
          const isAdmin = !values.revoke;
          await accounts.updateUser(name, { isAdmin });
          record(userChangeEvent(name, { isAdmin }));
          console.log(isAdmin ? `${name} is now an admin` : `${name} is no longer an admin`);
          return 0;
        }
        case "rm": {
          const [name] = positionals(names, 1, "berth user rm <name>");
          await accounts.removeUser(name);
          record({ action: "user.deleted", reference: `user ${name}`, detail: {} });
          console.log(`removed user ${name}`);
          return 0;
        }
        case "list":
          for (const u of await accounts.listUsers()) console.log(`${u.username}${u.isAdmin ? " (admin)" : ""}${u.disabled ? " (disabled)" : ""}`);
          return 0;
        default:
          throw new UsageError(userCommand.usage!);
      }
    });
  },
};

export const robotCommand: Command = {
  summary: "manage robot accounts for CI: add | rm | refresh | disable | enable | list",
  usage: `berth robot add <name> --project <project>:<pull,push,delete> [--project …] [--expires <ISO date>] [--description text]
berth robot rm <robot$name>
berth robot refresh <robot$name>      (a new secret, printed once; the old one stops working)
berth robot disable|enable <robot$name>
berth robot list`,
  async run(config, args) {
    const [sub, ...rest] = args;
    const { values, positionals: names } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: { project: { type: "string", multiple: true }, expires: { type: "string" }, description: { type: "string" } },
    });
    return withAccounts(config, async (accounts, record) => {
      switch (sub) {
        case "add": {
          const [name] = positionals(names, 1, "berth robot add <name> --project p:pull,push");
          if (!values.project?.length) throw new UsageError("berth robot add <name> --project p:pull,push (at least one --project)");
          const permissions = values.project.map(parsePermission);
          const expiresAt = values.expires ? parseCalendarDate(values.expires) : null;
          if (values.expires && !expiresAt) throw new UsageError(`--expires must be ${DATE_FORMAT_HINT}`);
          const { robot, secret } = await accounts.addRobot({ name, permissions, description: values.description, expiresAt });
          record(robotCreatedEvent(robot));
          console.log(`created ${robot.name}; its secret (shown only now): ${secret}`);
          return 0;
        }
        case "rm": {
          const [name] = positionals(names, 1, "berth robot rm <robot$name>");
          record(robotEvent("robot.deleted", await accounts.removeRobot(name)));
          console.log(`removed ${name}`);
          return 0;
        }
        case "refresh": {
          const [name] = positionals(names, 1, "berth robot refresh <robot$name>");
          const { robot, secret } = await accounts.refreshRobotSecret("all", name);
          record(robotEvent("robot.secret_refreshed", robot));
          console.log(`new secret for ${robot.name} (shown only now; the old one no longer works): ${secret}`);
          return 0;
        }
        case "disable":
        case "enable": {
          const [name] = positionals(names, 1, `berth robot ${sub} <robot$name>`);
          const change = { disabled: sub === "disable" };
          record(robotChangeEvent(await accounts.updateRobot("all", name, change), change));
          console.log(`${sub}d ${name}`);
          return 0;
        }
        case "list":
          for (const r of await accounts.listRobots()) {
            console.log(`${r.name} ${r.permissions.map((p) => `${p.project}:${p.actions.join(",")}`).join(" ")}${r.expiresAt ? ` expires ${r.expiresAt.toISOString()}` : ""}${r.disabled ? " (disabled)" : ""}`);
          }
          return 0;
        default:
          throw new UsageError(robotCommand.usage!);
      }
    });
  },
};

function parsePermission(value: string): RobotPermission {
  const colon = value.lastIndexOf(":");
  if (colon <= 0) throw new UsageError(`--project ${value}: expected <project>:<actions>, e.g. team-a:pull,push`);
  return { project: value.slice(0, colon), actions: value.slice(colon + 1).split(",") as RobotPermission["actions"] };
}

export const projectCommand: Command = {
  summary: "manage projects and members: add | rm | list | member",
  usage: `berth project add <name> [--public] [--owner <user>]
berth project rm <name> [--force]   (--force: also delete the repositories it holds)
berth project list
berth project member <project> <user> <guest|developer|maintainer|admin>
berth project member <project> <user> --remove`,
  async run(config, args) {
    const [sub, ...rest] = args;
    const { values, positionals: names } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: { public: { type: "boolean" }, owner: { type: "string" }, remove: { type: "boolean" }, force: { type: "boolean" } },
    });
    return withAccounts(config, async (accounts, record) => {
      switch (sub) {
        case "add": {
          const [name] = positionals(names, 1, "berth project add <name>");
          const project = await accounts.addProject(name, { public: values.public, owner: values.owner });
          record({ action: "project.created", reference: `project ${name}`, detail: { public: project.public, owner: values.owner ?? null } });
          console.log(`created ${project.public ? "public" : "private"} project ${name}`);
          return 0;
        }
        case "rm": {
          const [name] = positionals(names, 1, "berth project rm <name> [--force]");
          const { repositories } = await accounts.removeProject(name, { force: values.force ?? false });
          record({ action: "project.deleted", reference: `project ${name}`, detail: { repositories } });
          console.log(`removed project ${name}${repositories ? ` and its ${repositories} repositories` : ""}`);
          return 0;
        }
        case "list":
          for (const p of await accounts.listProjects()) console.log(`${p.name}${p.public ? " (public)" : ""}`);
          return 0;
        case "member": {
          if (values.remove) {
            const [project, user] = positionals(names, 2, "berth project member <project> <user> --remove");
            await accounts.removeMember(project, user);
            record({ action: "member.removed", reference: `user ${user}`, detail: { project } });
            console.log(`removed ${user} from ${project}`);
          } else {
            const [project, user, role] = positionals(names, 3, "berth project member <project> <user> <role>");
            await accounts.setMember(project, user, role);
            record({ action: "member.set", reference: `user ${user}`, detail: { project, role } });
            console.log(`${user} is ${role} of ${project}`);
          }
          return 0;
        }
        default:
          throw new UsageError(projectCommand.usage!);
      }
    });
  },
};

export const keyCommand: Command = {
  summary: "token signing keys: rotate",
  usage: "berth key rotate   (tokens signed with the old key stay valid until they expire)",
  async run(config, args) {
    if (args.join(" ") !== "rotate") throw new UsageError(keyCommand.usage!);
    if (config.auth.signingKeyFile) throw new UsageError("the signing key comes from auth.signingKeyFile: replace that file to rotate");
    return withEvents(config, async (stores, record) => {
      const keys = await KeyRing.open(stores.signingKeys, { retainSeconds: config.auth.refreshTokenTtlSeconds });
      const kid = await keys.rotate(config.auth.refreshTokenTtlSeconds);
      record({ action: "key.rotated", reference: `key ${kid}`, detail: { kid } });
      console.log(`new signing key ${kid}`);
      return 0;
    });
  },
};
