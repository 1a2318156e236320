// A minimal SMTP destination for benchmarks: answers every command with a success and
// counts messages. smtp-server is the right sink for tests (it checks the protocol);
// here the destination's own CPU would otherwise be measured along with Hikyaku's, on
// the same two cores.
import net from "node:net";

export interface LightSink {
  port: number;
  received(): number;
  /** Copies received per recipient address (each message's first RCPT TO). */
  copies(): Map<string, number>;
  close(): Promise<void>;
}

export async function startLightSink(host = "127.0.0.1"): Promise<LightSink> {
  let count = 0;
  const copies = new Map<string, number>();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let inData = false;
    let rcpt = "";
    let buffered = "";
    socket.write("220 sink ESMTP\r\n");
    socket.on("data", (chunk) => {
      buffered += chunk.toString("latin1");
      let replies = "";
      for (;;) {
        if (inData) {
          const end = buffered.indexOf("\r\n.\r\n");
          if (end === -1) {
            buffered = buffered.slice(-4);
            break;
          }
          buffered = buffered.slice(end + 5);
          inData = false;
          count++;
          copies.set(rcpt, (copies.get(rcpt) ?? 0) + 1);
          rcpt = "";
          replies += "250 2.0.0 queued\r\n";
          continue;
        }
        const nl = buffered.indexOf("\r\n");
        if (nl === -1) break;
        const line = buffered.slice(0, nl).toUpperCase();
        buffered = buffered.slice(nl + 2);
        if (line.startsWith("RCPT") && !rcpt) rcpt = line.slice(line.indexOf("<") + 1, line.lastIndexOf(">"));
        if (line.startsWith("EHLO")) replies += "250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 52428800\r\n";
        else if (line.startsWith("DATA")) {
          inData = true;
          buffered = `\r\n${buffered}`;
          replies += "354 go ahead\r\n";
        } else if (line.startsWith("QUIT")) {
          socket.end("221 bye\r\n");
          return;
        } else replies += "250 2.0.0 ok\r\n";
      }
      if (replies) socket.write(replies);
    });
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return {
    port: (server.address() as net.AddressInfo).port,
    received: () => count,
    copies: () => copies,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
