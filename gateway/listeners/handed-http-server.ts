// Node's HTTP/1 server as the parser for connections something else read first: the outbound
// listener's sniffer and fast path, or a lane's fast path, hand a connection over with the bytes they
// already read. Such a server never listens itself.
import type { Server } from 'node:http';
import { Duplex } from 'node:stream';
import type { ByteStream } from '../upstream/exchange.js';
import { lingerOnServerClose } from './lingering-close.js';

/**
 * Starts the connection tracking a listening server would have: it enforces headersTimeout and lets
 * closeIdleConnections() find idle connections.
 */
export function trackHandedConnections(server: Server): void {
  server.emit('listening');
}

/** `server` parses the rest of `stream`, `unread` first; a TCP socket lingers when the server closes it. */
export function handToHttpServer(server: Server, stream: ByteStream, unread: Buffer): void {
  lingerOnServerClose(stream);
  if (stream.readableEnded) {
    // The caller already half-closed: a stream that has emitted 'end' takes no unshift.
    server.emit('connection', new HalfClosedInput(stream, unread));
    return;
  }
  stream.pause();
  stream.unshift(unread);
  server.emit('connection', stream);
  stream.resume();
}

/**
 * What the server reads from a connection whose caller finished sending before the hand-over: the unread
 * bytes, then the end. Answers, and their end, go to the connection. (A lane's caller tag stays on the
 * lane, so a lane handed over this way is refused and closed: weft never half-closes a lane.)
 */
class HalfClosedInput extends Duplex {
  private readonly connection: ByteStream;

  constructor(connection: ByteStream, unread: Buffer) {
    super({ allowHalfOpen: true });
    this.connection = connection;
    this.push(unread);
    this.push(null);
    connection.on('error', (err: Error) => this.destroy(err));
    connection.once('close', () => this.destroy());
    connection.on('timeout', () => this.emit('timeout'));
  }

  /** Like a socket's: the refusal of an upgrade times the connection out through it. */
  setTimeout(ms: number, onTimeout?: () => void): this {
    this.connection.setTimeout(ms);
    if (onTimeout) this.once('timeout', onTimeout);
    return this;
  }

  /** Like a socket's: the answer to a request that asked to upgrade to h2c ends the connection through it. */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  override _read(): void {}

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.connection.write(chunk, encoding, callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.connection.end(callback);
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.connection.destroy();
    callback(err);
  }
}
