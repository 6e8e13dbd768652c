import { formatFindings, runDoctor } from "../ops/doctor";
import { UsageError, type Command } from "./command";

export const doctorCommand: Command = {
  summary: "check the configuration, database, storage, TLS files, upstreams and webhooks; exit 1 on problems",
  usage: `berth doctor
Checks what Berth depends on and prints one line per finding (ok, warn, FAIL); exits 1 when anything failed.
A configuration error (unknown key, bad value) is reported before any check runs, with exit code 2.`,
  async run(config, args) {
    if (args.length) throw new UsageError(`unexpected argument ${args[0]}`);
    const findings = await runDoctor(config);
    console.log(formatFindings(findings));
    return findings.some((f) => f.severity === "fail") ? 1 : 0;
  },
};
