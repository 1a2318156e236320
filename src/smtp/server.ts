// The smtp role: three listeners in front of the one intake. The relay port takes mail
// from registered source IPs; the submission port (STARTTLS) and the SMTPS port
// (implicit TLS) take mail from clients that log in, over TLS only.
import type { AddressInfo } from "node:net";
import type { SMTPServerOptions } from "smtp-server";
import type { Config } from "../config.ts";
import type { Db } from "../db/client.ts";
import { log } from "../logger.ts";
import { type Door, intakeHandlers } from "./handlers.ts";
import { IntakeServer } from "./intake-server.ts";
import { loadTlsPair, type TlsPair } from "./tls-credentials.ts";

export interface SmtpHandle {
  relayPort: number;
  submissionPort: number;
  smtpsPort: number;
  stop(): Promise<void>;
}

interface Listener {
  name: string;
  door: Door;
  port: number;
  setting: string;
  implicitTls: boolean;
}

export async function startSmtp(config: Config, db: Db): Promise<SmtpHandle> {
  const tls = await loadTlsPair(config);
  const perIp = new Map<string, number>();
  const listeners: Listener[] = [
    { name: "relay", door: "relay", port: config.HIKYAKU_SMTP_RELAY_PORT, setting: "HIKYAKU_SMTP_RELAY_PORT", implicitTls: false },
    { name: "submission", door: "submission", port: config.HIKYAKU_SMTP_SUBMISSION_PORT, setting: "HIKYAKU_SMTP_SUBMISSION_PORT", implicitTls: false },
    { name: "smtps", door: "submission", port: config.HIKYAKU_SMTPS_PORT, setting: "HIKYAKU_SMTPS_PORT", implicitTls: true },
  ];
  const servers: IntakeServer[] = [];
  const stop = () => Promise.all(servers.map((s) => s.shutdown())).then(() => undefined);
  try {
    const ports: number[] = [];
    for (const l of listeners) {
      const handlers = intakeHandlers({ db, config, perIp, closeSession: (s) => server.closeSession(s) }, l.door);
      const server: IntakeServer = new IntakeServer({ ...serverOptions(config, tls, l), ...handlers }, config.HIKYAKU_SMTP_SESSION_SECONDS * 1000);
      servers.push(server);
      ports.push(await listen(server, config.HIKYAKU_HOST, l));
    }
    const [relayPort = 0, submissionPort = 0, smtpsPort = 0] = ports;
    log.info("smtp intake listening", { host: config.HIKYAKU_HOST, relay: relayPort, submission: submissionPort, smtps: smtpsPort });
    return { relayPort, submissionPort, smtpsPort, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function serverOptions(config: Config, tls: TlsPair, l: Listener): SMTPServerOptions {
  const relay = l.door === "relay";
  return {
    name: config.HIKYAKU_HOSTNAME,
    banner: "Hikyaku",
    key: tls.key,
    cert: tls.cert,
    minVersion: "TLSv1.2",
    secure: l.implicitTls,
    size: config.HIKYAKU_MAX_MESSAGE_BYTES,
    hideENHANCEDSTATUSCODES: false,
    // The relay door knows its clients by IP; AUTH lives on the submission doors only. No
    // client may rewrite its own address (XCLIENT/XFORWARD), and sendmail's jokes stay out.
    authOptional: relay,
    disabledCommands: [...(relay ? ["AUTH"] : []), "XCLIENT", "XFORWARD", "WIZ", "SHELL", "KILL"],
    authMethods: ["PLAIN", "LOGIN"],
    allowInsecureAuth: false,
    authRequiredMessage: "5.7.0 Authentication required: log in with AUTH PLAIN or LOGIN (over TLS) before MAIL FROM.",
    // A PTR lookup per connection adds latency and trusts DNS for nothing we use.
    disableReverseLookup: true,
    useXClient: false,
    useXForward: false,
    useProxy: false,
    socketTimeout: config.HIKYAKU_SMTP_IDLE_SECONDS * 1000,
    closeTimeout: 10_000,
    maxClients: config.HIKYAKU_SMTP_MAX_CONNECTIONS,
    logger: false,
  };
}

function listen(server: IntakeServer, host: string, l: Listener): Promise<number> {
  server.on("error", (err: Error & { code?: string }) => log.debug("smtp connection error", { listener: l.name, code: err.code, err }));
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => reject(new Error(`Could not listen for SMTP (${l.name}) on ${host}:${l.port}; set ${l.setting}.`, { cause: err }));
    server.server.once("error", fail);
    server.listen(l.port, host, () => {
      server.server.off("error", fail);
      resolve((server.server.address() as AddressInfo).port);
    });
  });
}
