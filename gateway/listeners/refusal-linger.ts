// A connection the gateway answered with a refusal and ended: whatever the caller still sends is read
// and dropped, and the connection is closed once it has been idle for LINGER_MS. Sockets here allow
// half-open, so a caller that keeps its side open (or a frozen one, whose kernel still answers
// keep-alives) would otherwise hold it for good.
import type { Socket } from 'node:net';
import { LINGER_MS } from './h1-fast-path.js';

export function lingerAfterRefusal(socket: Socket): void {
  socket.setTimeout(LINGER_MS, () => socket.destroy());
  socket.resume();
}
