// Node's HTTP/1 server as the parser for connections something else read first: the outbound
// listener's sniffer and fast path, or a lane's fast path, hand a connection over with the bytes they
// already read. Such a server never listens itself.
import type { Server } from 'node:http';
import type { ByteStream } from '../upstream/exchange.js';

/**
 * Starts the connection tracking a listening server would have: it enforces headersTimeout and lets
 * closeIdleConnections() find idle connections.
 */
export function trackHandedConnections(server: Server): void {
  server.emit('listening');
}

/** `server` parses the rest of `stream`, `unread` first. */
export function handToHttpServer(server: Server, stream: ByteStream, unread: Buffer): void {
  stream.pause();
  stream.unshift(unread);
  server.emit('connection', stream);
  stream.resume();
}
