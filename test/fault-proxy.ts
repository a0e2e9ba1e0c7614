// A TCP proxy on loopback between tokenchat and its database, for the database-fault tests: it
// forwards bytes both ways until told to drop every connection (a reset, as when the server
// restarts or a NAT forgets them), refuse new ones (nothing listens on its port), or stall them
// (connections are accepted and kept open, but nothing is passed on, either way).
import net from 'node:net';

export interface FaultProxy {
  readonly port: number;
  /** `url` (a postgres:// URL) with its host and port replaced by the proxy's. */
  through(url: string): string;
  /** Resets every open connection, both sides. New ones are still accepted. */
  drop(): void;
  /** Closes the listening port: connecting is refused (ECONNREFUSED) until heal(). */
  refuse(): Promise<void>;
  /** Passes nothing on, on open connections and new ones alike, until heal(). */
  stall(): void;
  /** Back to forwarding: listens again if it was refusing, and passes on what a stall held. */
  heal(): Promise<void>;
  /** How many connections are open through it. */
  readonly open: number;
  close(): Promise<void>;
}

interface Pair {
  client: net.Socket;
  server: net.Socket;
}

export async function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  const pairs = new Set<Pair>();
  let stalled = false;

  /** Forwards `from` to `to`, holding data back (paused) while stalled. */
  const pipe = (from: net.Socket, to: net.Socket) => {
    from.on('data', (chunk) => {
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => stalled || from.resume());
    from.on('end', () => to.end());
  };

  const onConnection = (client: net.Socket) => {
    const server = net.connect(target.port, target.host);
    const pair = { client, server };
    pairs.add(pair);
    const gone = () => {
      pairs.delete(pair);
      client.destroy();
      server.destroy();
    };
    client.on('error', gone).on('close', gone);
    server.on('error', gone).on('close', gone);
    if (stalled) {
      client.pause();
      server.pause();
    }
    pipe(client, server);
    pipe(server, client);
  };

  let listener = net.createServer(onConnection);
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const port = (listener.address() as net.AddressInfo).port;
  let listening = true;

  const listen = async () => {
    if (listening) return;
    listener = net.createServer(onConnection);
    await new Promise<void>((resolve, reject) => listener.once('error', reject).listen(port, '127.0.0.1', resolve));
    listening = true;
  };

  const drop = () => {
    for (const { client, server } of [...pairs]) {
      client.resetAndDestroy();
      server.resetAndDestroy();
    }
    pairs.clear();
  };

  return {
    port,
    through(url: string) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    drop,
    async refuse() {
      if (!listening) return;
      listening = false;
      listener.close(); // the port closes at once; its callback would wait for open connections
    },
    stall() {
      stalled = true;
      for (const { client, server } of pairs) {
        client.pause();
        server.pause();
      }
    },
    async heal() {
      stalled = false;
      for (const { client, server } of pairs) {
        client.resume();
        server.resume();
      }
      await listen();
    },
    get open() {
      return pairs.size;
    },
    async close() {
      drop();
      if (listening) await new Promise<void>((resolve) => listener.close(() => resolve()));
      listening = false;
    },
  };
}
