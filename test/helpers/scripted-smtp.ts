// A scripted SMTP server, for the tests that need replies smtp-server will not give (a
// refused STARTTLS, a strict transaction state): it splits what the client sends into
// lines and collects a message's data up to its final dot; each connection's script
// answers every command and every message. A reply starting 354 enters the data; one
// starting 221 ends the connection after it is written.
import net from "node:net";

export interface Script {
  /** The reply to one command line (without its CRLF; several lines joined by CRLF). */
  command(line: string): string;
  /** The reply to a message's final dot; `data` is the message as sent, dot-stuffing included. */
  message(data: string): string;
}

export function startScriptedSmtp(host: string, port: number, greeting: string, newScript: () => Script): Promise<net.Server> {
  const server = net.createServer((socket) => {
    const script = newScript();
    let inData = false;
    let data = "";
    let buffered = "";
    socket.on("error", () => {});
    socket.write(`${greeting}\r\n`);
    socket.on("data", (chunk) => {
      buffered += chunk.toString("latin1");
      for (let nl = buffered.indexOf("\r\n"); nl >= 0; nl = buffered.indexOf("\r\n")) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 2);
        if (inData) {
          if (line !== ".") {
            data += `${line}\r\n`;
            continue;
          }
          inData = false;
          socket.write(`${script.message(data)}\r\n`);
          data = "";
          continue;
        }
        const reply = script.command(line);
        if (reply.startsWith("221")) {
          socket.end(`${reply}\r\n`);
          return;
        }
        if (reply.startsWith("354")) inData = true;
        socket.write(`${reply}\r\n`);
      }
    });
  });
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
}
