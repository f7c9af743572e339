// An answer that fails after its head went out can only drop the caller's connection. A TCP caller's is
// dropped with a reset (RST), not a FIN: an answer whose end the close marks (an HTTP/1.0 caller, an
// answer without a length) would otherwise look whole. A lane has no TCP of its own: its stream is
// reset, and the calling gateway's parser finds the answer's framing cut.
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export function cutConnection(connection: Duplex): void {
  const socket = connection as Duplex & Partial<Pick<Socket, 'resetAndDestroy'>>;
  if (typeof socket.resetAndDestroy === 'function') {
    try {
      socket.resetAndDestroy();
      return;
    } catch {
      // Not a TCP handle after all (Node throws ERR_INVALID_HANDLE_TYPE): destroyed below.
    }
  }
  connection.destroy();
}
