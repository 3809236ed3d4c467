/**
 * A loopback TCP fault proxy: a `node:net` server on 127.0.0.1 that forwards every connection to one
 * target, byte for byte (TLS passes through untouched), until told otherwise.
 *
 * - {@link FaultProxy.cut} destroys every open connection at once and makes the target unreachable for
 *   new ones: each is reset as soon as it is accepted, as by a host whose server is down.
 *   {@link FaultProxy.restore} forwards new connections again.
 * - {@link FaultProxy.loseAnswer} arms a fault on a plain-text request: the request reaches the target,
 *   the target's answer is dropped and the client's connection reset — the effect happened, the caller
 *   never hears of it — and, when asked, a cut begins at that moment.
 *
 * Only clients pointed at the proxy are affected, so a test can take a part of the shared sandbox away
 * from its own worker without disturbing anyone else.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

/** Counters of what went through the proxy. */
export interface FaultProxyStats {
  /** Connections forwarded to the target. */
  readonly forwarded: number;
  /** Connections open when a cut began, destroyed by it. */
  readonly destroyed: number;
  /** Connections refused while cut. */
  readonly refused: number;
  /** Answers dropped by {@link FaultProxy.loseAnswer}. */
  readonly lostAnswers: number;
}

/** Options of {@link FaultProxy.loseAnswer}. */
export interface LoseAnswerOptions {
  /** Begin a cut when the answer is dropped. */
  readonly cut?: boolean;
}

/** A running proxy; {@link startFaultProxy} makes one. */
export interface FaultProxy {
  /** The port the proxy listens on (127.0.0.1). */
  readonly port: number;
  readonly target: { readonly host: string; readonly port: number };
  /** True while cut. */
  readonly isCut: boolean;
  readonly stats: FaultProxyStats;
  /** Destroys every open connection and refuses new ones until {@link restore}. */
  cut(): void;
  /** Forwards new connections again. */
  restore(): void;
  /**
   * Arms a one-shot fault (several may be armed at once): the next client request whose text (since the previous answer on its
   * connection) matches `request` is forwarded, and when the target answers, the client's connection is
   * reset instead and the answer kept from it. Resolves with the dropped answer (all the target sent on
   * that connection, or its first 150 ms) — immediately with its first bytes when `cut` is given, since the
   * cut ends that connection too.
   */
  loseAnswer(request: RegExp, options?: LoseAnswerOptions): Promise<Buffer>;
  close(): Promise<void>;
}

/** How long a dropped answer is collected when no cut ends its connection. */
const DROP_WINDOW_MS = 150;

interface Trigger {
  readonly request: RegExp;
  readonly options: LoseAnswerOptions;
  readonly fired: (dropped: Buffer) => void;
}

/** One forwarded connection: the client's socket and the one to the target. */
interface Pair {
  readonly client: Socket;
  readonly upstream: Socket;
}

/** Starts a proxy on a free loopback port forwarding to `target`. */
export async function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  const open = new Set<Pair>();
  let isCut = false;
  const triggers: Trigger[] = [];
  const stats = { forwarded: 0, destroyed: 0, refused: 0, lostAnswers: 0 };

  const cut = (): void => {
    isCut = true;
    for (const pair of open) {
      stats.destroyed++;
      pair.client.destroy();
      pair.upstream.destroy();
    }
    open.clear();
  };

  const forward = (client: Socket): void => {
    stats.forwarded++;
    const upstream = connect(target.port, target.host);
    const pair = { client, upstream };
    open.add(pair);
    let requestText = '';
    let armed: Trigger | undefined;
    let dropped: Buffer[] | undefined;
    const end = (): void => {
      open.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      if (triggers.length > 0 && !armed) {
        // Bounded: only the start of a request is needed to recognise it (headers and a form or JSON body).
        requestText = (requestText + chunk.toString('latin1')).slice(-16_384);
        const i = triggers.findIndex((t) => t.request.test(requestText));
        if (i >= 0) [armed] = triggers.splice(i, 1);
      }
      if (!upstream.write(chunk)) client.pause();
    });
    upstream.on('drain', () => client.resume());
    upstream.on('data', (chunk: Buffer) => {
      if (dropped) {
        dropped.push(chunk);
        return;
      }
      if (armed) {
        const fired = armed;
        armed = undefined;
        stats.lostAnswers++;
        client.resetAndDestroy();
        if (fired.options.cut) {
          cut();
          fired.fired(chunk);
          return;
        }
        const collected = [chunk];
        dropped = collected;
        let finished = false;
        const finish = (): void => {
          if (finished) return;
          finished = true;
          clearTimeout(timer);
          fired.fired(Buffer.concat(collected));
        };
        const timer = setTimeout(finish, DROP_WINDOW_MS);
        upstream.once('close', finish);
        return;
      }
      requestText = '';
      if (!client.write(chunk)) upstream.pause();
    });
    client.on('drain', () => upstream.resume());
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', () => {
      // Keep collecting a dropped answer until the target ends it.
      if (!dropped) end();
    });
    upstream.on('close', end);
  };

  const server: Server = createServer((client) => {
    if (isCut) {
      stats.refused++;
      client.resetAndDestroy();
      return;
    }
    forward(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('fault proxy: no TCP address');

  return {
    port: address.port,
    target,
    get isCut() {
      return isCut;
    },
    stats,
    cut,
    restore() {
      isCut = false;
    },
    loseAnswer(request, options = {}) {
      return new Promise<Buffer>((fired) => {
        triggers.push({ request, options, fired });
      });
    },
    async close() {
      triggers.splice(0);
      for (const pair of open) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      open.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
