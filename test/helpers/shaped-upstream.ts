// A raw HTTP/1.1 upstream whose answers stall, trickle, flood or die, for the tests of streams in flight:
// the stream idle timeout, callers that stop reading or leave mid-answer, answers and uploads cut short.
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

const CLOSE = 'connection: close\r\n';

/**
 * Answers by path: /stall sends a head promising 100 000 bytes and 1000 of them, then nothing; /moving
 * sends a chunk every 300 ms for 3 s; /flood sends 1 GiB as fast as it is read; /die sends a chunked
 * head and one chunk, then drops the connection; /no-content answers 204 with a Content-Length (which
 * RFC 9110 forbids there); /upload reads a chunked body and answers once its last
 * chunk arrived (counted in `uploadsCompleted`). One request per connection (each answer says
 * Connection: close), so each test sees connections of its own.
 */
export class ShapedUpstream {
  readonly sockets: Socket[] = [];
  /** A /flood answer is waiting for its reader: the gateway stopped taking it (backpressure). */
  floodHeld = false;
  /** /upload bodies that arrived whole, their last chunk included; and those begun. */
  uploadsCompleted = 0;
  uploadsBegun = 0;
  private readonly server: Server;

  private constructor(server: Server) {
    this.server = server;
  }

  static async start(host: string): Promise<ShapedUpstream> {
    const upstream = new ShapedUpstream(createServer((socket) => upstream.accept(socket)));
    upstream.server.listen(0, host);
    await once(upstream.server, 'listening');
    return upstream;
  }

  get endpoint(): string {
    const { address, port } = this.server.address() as AddressInfo;
    return `${address}:${port}`;
  }

  /** How many of its connections are open. */
  get open(): number {
    return this.sockets.filter((s) => !s.destroyed).length;
  }

  close(): void {
    for (const socket of this.sockets) socket.destroy();
    this.server.close();
  }

  private accept(socket: Socket): void {
    this.sockets.push(socket);
    socket.on('error', () => undefined);
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      const path = head.split(' ')[1];
      if (path === '/stall') this.stall(socket);
      else if (path === '/moving') this.moving(socket);
      else if (path === '/die') this.die(socket);
      else if (path === '/no-content')
        socket.write(`HTTP/1.1 204 No Content\r\n${CLOSE}content-length: 5\r\n\r\n`);
      else if (path === '/upload') this.upload(socket, head.slice(head.indexOf('\r\n\r\n') + 4));
      else this.flood(socket);
    };
    socket.on('data', onData);
  }

  private stall(socket: Socket): void {
    socket.write(`HTTP/1.1 200 OK\r\n${CLOSE}content-length: 100000\r\n\r\n${'x'.repeat(1000)}`);
  }

  private die(socket: Socket): void {
    socket.write(`HTTP/1.1 200 OK\r\n${CLOSE}transfer-encoding: chunked\r\n\r\n5\r\nhello\r\n`);
    setTimeout(() => socket.destroy(), 50);
  }

  private upload(socket: Socket, bodyStart: string): void {
    this.uploadsBegun++;
    let tail = bodyStart;
    const onBody = (chunk: Buffer | string) => {
      tail = (tail + chunk.toString('latin1')).slice(-5);
      if (tail !== '0\r\n\r\n') return;
      socket.off('data', onBody);
      this.uploadsCompleted++;
      socket.end(`HTTP/1.1 200 OK\r\n${CLOSE}content-length: 0\r\n\r\n`);
    };
    socket.on('data', onBody);
    onBody('');
  }

  private moving(socket: Socket): void {
    socket.write(`HTTP/1.1 200 OK\r\n${CLOSE}transfer-encoding: chunked\r\n\r\n`);
    let sent = 0;
    const timer = setInterval(() => {
      if (socket.destroyed) return clearInterval(timer);
      socket.write('a\r\n0123456789\r\n');
      if (++sent === 10) {
        clearInterval(timer);
        socket.end('0\r\n\r\n');
      }
    }, 300);
  }

  private flood(socket: Socket): void {
    socket.write(`HTTP/1.1 200 OK\r\n${CLOSE}content-length: ${2 ** 30}\r\n\r\n`);
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const pump = () => {
      this.floodHeld = false;
      while (!socket.destroyed && socket.write(chunk));
      this.floodHeld = !socket.destroyed;
    };
    socket.on('drain', pump);
    pump();
  }
}
