// A mutual-TLS echo server and client for PKI tests: the server requires and verifies a client
// certificate and records who connected; the client proves a connection works only by a full echo
// round trip, because under TLS 1.3 a server rejects a client certificate after the client has already
// seen its handshake complete.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import {
  connect,
  createServer,
  type ConnectionOptions,
  type PeerCertificate,
  type Server,
  type TLSSocket,
  type TlsOptions,
} from 'node:tls';

export interface MtlsEchoServer {
  readonly server: Server;
  readonly host: string;
  readonly port: number;
  /** Client certificates of accepted connections, in order. */
  readonly callers: PeerCertificate[];
  /** Why the server refused connections: OpenSSL verify codes (UNABLE_TO_VERIFY_LEAF_SIGNATURE, …) or errors. */
  readonly refused: string[];
  close(): Promise<void>;
}

export async function startMtlsEchoServer(options: TlsOptions, host = '127.0.0.1'): Promise<MtlsEchoServer> {
  const callers: PeerCertificate[] = [];
  const refused: string[] = [];
  const sockets = new Set<TLSSocket>();
  // Verification is enforced here rather than by rejectUnauthorized so the reason can be recorded: Node's
  // own rejection closes the socket without saying why.
  const server = createServer({ ...options, requestCert: true, rejectUnauthorized: false }, (socket) => {
    if (!socket.authorized) {
      refused.push(String(socket.authorizationError));
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    callers.push(socket.getPeerCertificate());
    socket.pipe(socket);
  });
  server.on('tlsClientError', (err) => refused.push(err.message));
  server.listen(0, host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    server,
    host,
    port,
    callers,
    refused,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

export type MtlsConnectResult =
  | { readonly ok: true; readonly socket: TLSSocket; readonly serverCert: PeerCertificate }
  | { readonly ok: false; readonly error: Error };

/**
 * Connects and echoes one message. On success the socket stays open (the caller destroys it); on any
 * failure, including the connection closing before the echo, resolves `{ ok: false }` with the cause.
 */
export function connectMtls(options: ConnectionOptions, timeoutMs = 10_000): Promise<MtlsConnectResult> {
  return new Promise((resolve) => {
    const socket = connect(options);
    const fail = (error: Error) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok: false, error });
    };
    const timer = setTimeout(() => fail(new Error(`no echo within ${timeoutMs} ms`)), timeoutMs);
    socket.once('error', fail);
    const onClose = () => fail(new Error('connection closed before the echo'));
    socket.once('close', onClose);
    socket.once('secureConnect', () => {
      echo(socket, 'hello', timeoutMs).then(
        () => {
          clearTimeout(timer);
          socket.removeListener('close', onClose);
          socket.removeListener('error', fail);
          socket.on('error', () => socket.destroy());
          resolve({ ok: true, socket, serverCert: socket.getPeerCertificate() });
        },
        (err: Error) => fail(err),
      );
    });
  });
}

/** Writes `text` and resolves when the same bytes come back. */
export function echo(socket: TLSSocket, text: string, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let received = '';
    const timer = setTimeout(() => done(new Error(`echo of "${text}" timed out`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      received += chunk.toString('utf8');
      if (received.length >= text.length)
        done(received === text ? undefined : new Error(`echo got "${received}"`));
    };
    const onClose = () => done(new Error('connection closed during echo'));
    const done = (err?: Error) => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.write(text);
  });
}
