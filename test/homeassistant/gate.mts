/**
 * A loopback TCP relay between the apps and Home Assistant. The apps connect through it,
 * the tests directly; the harness opens it only once HA is RUNNING and the tests' own
 * subscriber listens, so that nothing an app sends right after a (re)connect can pass
 * unseen. `cut()` drops every relayed connection at once without a close handshake from
 * the app's side — a laptop that sleeps, Wi-Fi gone.
 */
import { createServer, connect, type Socket } from "node:net";

/** The relay's controls. */
export interface Gate {
  /** "http://127.0.0.1:PORT": the address the apps are given. */
  readonly url: string;
  readonly port: number;
  /** Relay new connections. */
  open(): void;
  /** Refuse new connections (open ones stay). */
  hold(): void;
  readonly isOpen: boolean;
  /** Destroy every relayed connection now (both ends, no close frames); returns how many. */
  cut(): number;
  /** Relayed connections open now. */
  connections(): number;
  close(): Promise<void>;
}

/** Start a relay to 127.0.0.1:`targetPort`; it starts held. */
export async function startGate(targetPort: number): Promise<Gate> {
  const pairs = new Set<[Socket, Socket]>();
  let accepting = false;
  const server = createServer(client => {
    if (!accepting) {
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, "127.0.0.1");
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      resolve(typeof address === "object" && address !== null ? address.port : 0);
    });
  });
  const cut = () => {
    const count = pairs.size;
    for (const [client, upstream] of [...pairs]) {
      // resetAndDestroy sends RST: neither side gets a websocket close frame
      client.resetAndDestroy();
      upstream.resetAndDestroy();
    }
    pairs.clear();
    return count;
  };
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    open: () => {
      accepting = true;
    },
    hold: () => {
      accepting = false;
    },
    get isOpen() {
      return accepting;
    },
    cut,
    connections: () => pairs.size,
    close: () =>
      new Promise<void>(resolve => {
        accepting = false;
        cut();
        server.close(() => resolve());
      }),
  };
}
