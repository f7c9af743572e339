// Cutting a connection so that the party behind it learns it was cut, not finished: a TCP connection is
// reset (RST), not closed with a FIN. An answer whose end the close marks (an HTTP/1.0 caller, an answer
// without a length) or a tunnelled upload would otherwise look whole. TLS has no reset of its own: a TLS
// connection is cut by resetting the TCP connection Node layered it over (tls.Server, tls.connect({ socket
// })), and Node then closes the TLS socket. A lane has no TCP of its own: its stream is destroyed, and the
// calling gateway's parser finds the answer's framing cut.
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';

type Resettable = Duplex & Partial<Pick<Socket, 'resetAndDestroy'>>;

export function cutConnection(connection: Duplex): void {
  const layered =
    connection instanceof TLSSocket ? (connection as TLSSocket & { _parent?: Socket | null })._parent : null;
  const socket: Resettable = layered ?? connection;
  if (typeof socket.resetAndDestroy === 'function' && !socket.destroyed) {
    try {
      socket.resetAndDestroy();
      return;
    } catch {
      // Not a TCP handle after all (Node throws ERR_INVALID_HANDLE_TYPE): destroyed below.
    }
  }
  connection.destroy();
}
