// The receiving side of lanes for the requests the fast path leaves alone: heads it does not recognise
// (more than 100 fields, a head over 16 KiB, an unusual target such as `OPTIONS *`). The lane's
// FastConnection hands the stream over here with its unread bytes, as the outbound listener hands a
// socket to its HTTP/1 server, and Node's parser then reads the rest of that lane: chunked bodies,
// trailers, limits.
// The server never listens; it only parses lanes it is given, each tagged with the calling cluster its
// peer connection proved.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ByteStream } from '../upstream/exchange.js';
import { handToHttpServer, trackHandedConnections } from './handed-http-server.js';

const kCaller = Symbol('weft.lane.caller');
type CallerTagged = { [kCaller]?: string };

export interface LaneHttpLimits {
  /** An idle lane closes after this; longer than the calling gateway's lane idle timeout. */
  readonly keepAliveTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly maxHeaderSize: number;
}

/** A request read from a lane of peer cluster `caller`. */
export type LaneRequestHandler = (req: IncomingMessage, res: ServerResponse, caller: string) => void;

export class LaneHttpServer {
  private readonly http: Server;
  private draining = false;

  constructor(limits: LaneHttpLimits, onRequest: LaneRequestHandler) {
    this.http = createServer({
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      headersTimeout: limits.headersTimeoutMs,
      // A streaming gRPC call may last as long as its caller wants.
      requestTimeout: 0,
      maxHeaderSize: limits.maxHeaderSize,
    });
    // Every field a calling gateway sent (see outbound-listener.ts), bounded by maxHeaderSize.
    this.http.maxHeadersCount = 0;
    this.http.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const caller = (req.socket as unknown as CallerTagged)[kCaller];
      if (caller === undefined) {
        req.socket.destroy();
        return;
      }
      if (this.draining) res.shouldKeepAlive = false;
      onRequest(req, res, caller);
    });
    // A lane speaks HTTP/1.1 written by another weft gateway: a parse error means the lane is broken.
    this.http.on('clientError', (_err: Error, socket: ByteStream) => socket.destroy());
    trackHandedConnections(this.http);
  }

  /** Parses the rest of `lane` (from peer cluster `caller`) here, `unread` first. */
  handOver(lane: ByteStream, unread: Buffer, caller: string): void {
    (lane as ByteStream & CallerTagged)[kCaller] = caller;
    dropEmptyChunks(lane);
    handToHttpServer(this.http, lane, unread);
  }

  /**
   * Draining: answers say Connection: close, so busy lanes close after theirs. Idle lanes stay until
   * closeIdle(), which the peer router calls once the calling gateways had their grace to stop using them.
   */
  drain(): void {
    this.draining = true;
  }

  closeIdle(): void {
    this.http.closeIdleConnections();
  }
}

/**
 * Node 20's HTTP/2 streams finish a gathered write (writev) when its last chunk is empty, and free the
 * storage of the string chunks before it while they still wait to be sent. Node's HTTP/1 server ends
 * every answer with an empty write corked onto its head, so each answer it wrote on a lane reached the
 * calling gateway with its first 16 bytes overwritten (502 malformed status line). Empty chunks are
 * dropped before the stream sees them.
 */
function dropEmptyChunks(lane: ByteStream): void {
  const writev = lane._writev?.bind(lane);
  if (!writev) return;
  lane._writev = (chunks, callback) => {
    const sent = chunks.filter((entry) => (entry.chunk as Buffer | string).length > 0);
    if (sent.length === 0) callback();
    else writev(sent, callback);
  };
}
