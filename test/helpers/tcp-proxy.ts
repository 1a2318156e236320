// A TCP relay on loopback in front of a real server, which a test can cut (every
// connection dropped, new ones refused), stall (every connection dropped, new ones
// accepted and never answered) and restore on the same port: a database that goes away,
// or hangs, and comes back, without stopping the shared test PostgreSQL.
import net from "node:net";

export interface TcpProxy {
  port: number;
  cut(): Promise<void>;
  stall(): void;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  let stalled = false;
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const s = net.createServer((client) => {
        if (stalled) {
          sockets.add(client);
          client.on("error", () => {});
          client.on("close", () => sockets.delete(client));
          return;
        }
        const upstream = net.connect(target);
        for (const [a, b] of [
          [client, upstream],
          [upstream, client],
        ] as const) {
          sockets.add(a);
          a.on("error", () => b.destroy());
          a.on("close", () => {
            sockets.delete(a);
            b.destroy();
          });
          a.pipe(b);
        }
      });
      s.once("error", reject);
      s.listen(port, "127.0.0.1", () => {
        server = s;
        resolve((s.address() as net.AddressInfo).port);
      });
    });
  const port = await listen(0);
  const cut = async () => {
    const s = server;
    server = undefined;
    for (const sock of sockets) sock.destroy();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  };
  const stall = () => {
    stalled = true;
    for (const sock of sockets) sock.destroy();
  };
  const restore = async () => {
    stalled = false;
    if (!server) await listen(port);
  };
  return { port, cut, stall, restore, close: cut };
}
