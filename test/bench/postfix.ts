// A private Postfix (Debian's package, 3.7) for the bench to race Hikyaku against: its own
// config, queue and data directories in a temp folder, its own smtpd on a loopback port,
// relaying everything to the bench's sink. It never reads or changes /etc/postfix, and
// works whether the package's own instance runs or not. Durable like Hikyaku: Postfix
// fsyncs each queue file before its 250, as PostgreSQL does each commit.
import { execFile } from "node:child_process";
import { chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const POSTFIX = "/usr/sbin/postfix";

export interface PostfixInstance {
  port: number;
  /** The master process; its tree is Postfix's CPU. */
  masterPid(): number | undefined;
  /** Stops the instance (SIGKILL if it lingers) and removes its folder. */
  stop(): Promise<void>;
}

// Every daemon of Debian's master.cf that a relay needs, none chrooted (the temp folder has
// no chroot jail), no local delivery.
const SERVICES = `
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`;

/** Starts the instance under `dir` (created), listening on 127.0.0.1:port and relaying to [sinkHost]:sinkPort. */
export async function startPostfix(dir: string, port: number, sinkHost: string, sinkPort: number, opts: { log?: boolean } = {}): Promise<PostfixInstance> {
  if (!existsSync(POSTFIX)) throw new Error(`${POSTFIX} is missing: install Debian's postfix package (apt-get install postfix).`);
  const etc = path.join(dir, "etc");
  const data = path.join(dir, "data");
  for (const d of [etc, path.join(dir, "spool"), data]) mkdirSync(d, { recursive: true });
  // The data directory must belong to mail_owner (the package's `postfix` account).
  const owner = await idOf("postfix");
  if (owner) chownSync(data, owner.uid, owner.gid);
  const main = [
    "compatibility_level = 3.6",
    `config_directory = ${etc}`,
    `queue_directory = ${path.join(dir, "spool")}`,
    `data_directory = ${data}`,
    "myhostname = postfix-bench.test",
    "mydomain = postfix-bench.test",
    "mydestination =",
    "local_transport = error:local delivery is off in the bench",
    "alias_maps =",
    "alias_database =",
    "inet_interfaces = 127.0.0.1",
    "inet_protocols = ipv4",
    "mynetworks = 127.0.0.0/8",
    `relayhost = [${sinkHost}]:${sinkPort}`,
    "smtpd_relay_restrictions = permit_mynetworks, reject",
    "smtp_tls_security_level = none",
    "smtpd_tls_security_level = none",
    // The package's own logging goes to syslog; the bench keeps a file only when asked (debugging).
    ...(opts.log ? [`maillog_file_prefixes = ${dir}`, `maillog_file = ${path.join(dir, "maillog")}`] : []),
  ];
  writeFileSync(path.join(etc, "main.cf"), `${main.join("\n")}\n`);
  writeFileSync(path.join(etc, "master.cf"), `127.0.0.1:${port} inet n - n - - smtpd\n${SERVICES}`);
  await postfix(etc, "start");
  const pidFile = path.join(dir, "spool", "pid", "master.pid");
  const masterPid = () => {
    try {
      return Number(readFileSync(pidFile, "utf8").trim()) || undefined;
    } catch {
      return undefined;
    }
  };
  return {
    port,
    masterPid,
    async stop() {
      const pid = masterPid();
      await postfix(etc, "stop").catch(() => {});
      // `postfix stop` returns once master got the signal; wait for it to go, then make sure.
      for (let i = 0; pid && i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
      if (pid && alive(pid)) process.kill(pid, "SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function postfix(etc: string, command: string): Promise<void> {
  try {
    await run(POSTFIX, ["-c", etc, command], { timeout: 30_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`postfix -c ${etc} ${command} failed: ${e.stderr || e.message}`, { cause: err });
  }
}

async function idOf(user: string): Promise<{ uid: number; gid: number } | undefined> {
  try {
    const [uid, gid] = await Promise.all([run("id", ["-u", user]), run("id", ["-g", user])]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
