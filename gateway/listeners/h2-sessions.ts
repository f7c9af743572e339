// The HTTP/2 sessions of a listener, from the connection handed over until they close: counted, closed
// with GOAWAY on drain, destroyed at the end, and found when their other end went away without closing
// (its host died, a network partition, a frozen process). TCP notices nothing while we have nothing to
// send, so such a session would stay for good. Each session gets a PING every `intervalMs`; one that
// has not answered the previous PING by then is destroyed, its socket with it, so a dead caller goes
// within twice the interval. Node's `session.destroy()` alone only ends the socket and waits for the
// write side to finish, which it never does when the caller stopped reading with data still queued.
//
// A closing session (GOAWAY sent or received) is not pinged: Node answers no PING on a session that
// is closing, so a caller retiring its connection would look dead. It ends with its streams or at the
// listener's drain deadline. Node then ends the socket and waits for the caller's FIN; a caller that
// sends none (frozen, or one that ignores the end) would keep the socket for good, so the checks close
// it after LINGER_MAX_MS (see closeWhenOverdue).
//
// New settings (a reload) go to a session only once it has acknowledged the ones before: Node destroys a
// session that has ten SETTINGS unacknowledged, so reloads would otherwise drop a caller that is slow to
// read. A session still owing an acknowledgement gets the latest settings when it sends it.
import type { Http2Server, ServerHttp2Session, Settings } from 'node:http2';
import type { Duplex } from 'node:stream';
import { LINGER_MAX_MS } from './lingering-close.js';

/** The default interval: a caller that went away is found within 20 s. */
export const SESSION_PING_INTERVAL_MS = 10_000;

const kSocket = Symbol('weft.session.socket');
type SocketTagged = { [kSocket]?: Duplex };

/** Hands a connection to an HTTP/2 server so that H2Sessions can destroy its socket later. */
export function handToH2Server(server: Http2Server, socket: Duplex): void {
  (socket as Duplex & SocketTagged)[kSocket] = socket;
  server.emit('connection', socket);
}

export class H2Sessions {
  /** Each tracked session and its own socket (the session hands out a proxy that refuses destroy). */
  private readonly sessions = new Map<ServerHttp2Session, Duplex | undefined>();
  private readonly awaitingPong = new Set<ServerHttp2Session>();
  /** Destroyed sessions whose socket waits for the caller's FIN, and when a check first found them so. */
  private readonly ended = new Map<ServerHttp2Session, number>();
  /** Settings held back until their session acknowledges the SETTINGS it was sent before. */
  private readonly heldSettings = new Map<ServerHttp2Session, Settings>();
  private readonly intervalMs: number;
  private readonly onLost: (session: ServerHttp2Session, message: string) => void;
  private readonly timer: NodeJS.Timeout;

  constructor(intervalMs: number, onLost: (session: ServerHttp2Session, message: string) => void) {
    this.intervalMs = intervalMs;
    this.onLost = onLost;
    // Judged after the loop has read its sockets (setImmediate runs after the poll phase): after a
    // stall of our own event loop, an answer waiting unread does not count as missing.
    this.timer = setInterval(() => setImmediate(() => this.check()), intervalMs);
    this.timer.unref();
  }

  /** Watches a session of a connection handed over with handToH2Server, until it closes. */
  track(session: ServerHttp2Session): void {
    this.sessions.set(session, (session.socket as unknown as SocketTagged | undefined)?.[kSocket]);
    session.on('localSettings', () => this.sendHeldSettings(session));
    session.once('close', () => {
      this.sessions.delete(session);
      this.awaitingPong.delete(session);
      this.ended.delete(session);
      this.heldSettings.delete(session);
    });
  }

  get size(): number {
    return this.sessions.size;
  }

  /**
   * New settings to every open session (a SETTINGS frame each; streams already open are kept); a session
   * that has not acknowledged its last SETTINGS gets them when it does.
   */
  updateSettings(settings: Settings): void {
    for (const session of this.sessions.keys()) {
      if (session.destroyed) continue;
      if (session.pendingSettingsAck)
        this.heldSettings.set(session, { ...this.heldSettings.get(session), ...settings });
      else session.settings(settings);
    }
  }

  private sendHeldSettings(session: ServerHttp2Session): void {
    const settings = this.heldSettings.get(session);
    if (!settings || session.destroyed || session.pendingSettingsAck) return;
    this.heldSettings.delete(session);
    session.settings(settings);
  }

  /**
   * GOAWAY to every session: their open streams finish. With `keep`, a session whose socket it refuses is
   * destroyed instead, its streams with it; returns how many were.
   */
  closeAll(keep?: (socket: Duplex) => boolean): number {
    let destroyed = 0;
    for (const [session, socket] of this.sessions) {
      if (keep && socket && !keep(socket)) {
        session.destroy();
        socket.destroy();
        destroyed++;
      } else {
        session.close();
      }
    }
    return destroyed;
  }

  /**
   * A destroyed session's socket waits for the caller's FIN. It is closed LINGER_MAX_MS after a check
   * first found it so, and read and dropped until then: a caller may still be reading the end of its
   * last answer (closing under it would reset the connection and cut that answer), and nothing the
   * gateway sees tells that caller from a frozen one (a slow reader's client may send no WINDOW_UPDATE
   * for long).
   */
  private closeWhenOverdue(session: ServerHttp2Session, socket: Duplex): void {
    const now = Date.now();
    const endedAt = this.ended.get(session);
    if (endedAt === undefined) {
      this.ended.set(session, now);
      socket.resume();
    } else if (now - endedAt >= LINGER_MAX_MS) {
      socket.destroy();
    }
  }

  /** Destroys every session and stops the PINGs. */
  destroyAll(): void {
    clearInterval(this.timer);
    for (const session of this.sessions.keys()) session.destroy();
  }

  /**
   * Destroys the sessions that left the previous PING unanswered and pings the others; destroys the
   * sockets of sessions that ended before the previous check and still wait for their caller's FIN.
   */
  private check(): void {
    for (const [session, socket] of this.sessions) {
      if (session.destroyed) {
        if (socket) this.closeWhenOverdue(session, socket);
        continue;
      }
      if (session.closed) continue;
      if (this.awaitingPong.has(session)) {
        try {
          this.onLost(session, `no answer to a PING in ${this.intervalMs} ms; its connection is closed`);
        } catch {
          // A failing report must not keep the connection, nor stop the other sessions' checks.
        }
        // Node sends GOAWAY first: a client that reads its idle pooled connection only when it next
        // uses it finds that no stream of its was processed, and dials anew.
        session.destroy();
        socket?.destroy();
        continue;
      }
      this.awaitingPong.add(session);
      try {
        session.ping((err) => {
          if (!err) this.awaitingPong.delete(session);
        });
      } catch {
        // The session is going (ping throws once it is destroyed): its 'close' follows.
      }
    }
  }
}
