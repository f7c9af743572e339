// The mesh DNS listener (listen.dns, optional): UDP and TCP on the same port, answering A/AAAA/SRV for the
// fabric zone with the gateway's outbound listener (see dns-answer.ts), so unmodified apps can resolve
// `hello.default.svc.clusterset.local` to the gateway. Over UDP anything but a well-formed query is dropped,
// over TCP it gets FORMERR or NOTIMP (see dns-answer.ts); no packet or connection can crash the process.
// A TCP message must arrive whole within 5 s of its first byte, and one address holds at most 32 of the
// 256 connections. Lifecycle: construct → start() → close(), idempotent.
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { isIP, createServer, type Server, type Socket } from 'node:net';
import type { HostPort } from '../config/index.js';
import { canonicalIp } from '../../infra/index.js';
import { isUnspecifiedIp, unmapIPv4 } from '../config/ip-address.js';
import { GatewayError } from '../errors.js';
import { listenError } from '../listen-error.js';
import type { Logger } from '../logger.js';
import { clientNetworkOf } from './client-network.js';
import { answerQuery, type MeshZone } from './dns-answer.js';

export interface MeshDnsServerOptions {
  readonly listen: HostPort;
  /** The fabric zone, e.g. `clusterset.local`. */
  readonly zone: string;
  readonly defaultNamespace: string;
  /** The outbound listener: its IP is answered (A for IPv4, AAAA for IPv6; an IPv4-mapped IPv6 address
   *  as the IPv4 address it stands for, in A), its port in SRV. A wildcard is answered as loopback:
   *  0.0.0.0 (or ::ffff:0.0.0.0) as A 127.0.0.1, :: as AAAA ::1 only. */
  readonly outbound: HostPort;
  /** Whether a service (`name.namespace`) exists, optionally in one cluster. Called per query; keep it a
   *  map lookup. */
  readonly knows: (service: string, cluster?: string) => boolean;
  readonly logger?: Logger;
  /** TCP: how long one message may take from its first byte to its last (default 5 s, RFC 7766 6.2.3). */
  readonly tcpMessageTimeoutMs?: number;
  /**
   * TCP: connections open at once from one IPv4 address or IPv6 /64 (default 32), so that no host takes
   * every slot.
   */
  readonly tcpConnectionsPerAddress?: number;
}

const TCP_IDLE_MS = 10_000;
const TCP_MESSAGE_TIMEOUT_MS = 5_000;
const MAX_TCP_CONNECTIONS = 256;
const MAX_TCP_CONNECTIONS_PER_ADDRESS = 32;
const BIND_ATTEMPTS = 5;

export class MeshDnsServer {
  private readonly options: MeshDnsServerOptions;
  private readonly zone: MeshZone;
  private udp: UdpSocket | undefined;
  private tcp: Server | undefined;
  private readonly connections = new Set<Socket>();
  /** Open TCP connections per client network (clientNetworkOf). */
  private readonly connectionsByAddress = new Map<string, number>();
  private starting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;

  /** Throws USAGE when the outbound listener is not an IP address (a host name cannot go in an A record). */
  constructor(options: MeshDnsServerOptions) {
    this.options = options;
    const ip = canonicalIp(options.outbound.host);
    if (ip === undefined) {
      throw new GatewayError(
        'USAGE',
        `mesh DNS answers with the outbound listener's address, but listen.outbound host "${options.outbound.host}" is not an IP address`,
      );
    }
    const answered = unmapIPv4(ip);
    const family = isIP(answered) === 4 ? 4 : 6;
    const host = isUnspecifiedIp(answered) ? (family === 4 ? '127.0.0.1' : '::1') : answered;
    this.zone = {
      zone: options.zone.toLowerCase().replace(/\.$/, ''),
      defaultNamespace: options.defaultNamespace,
      address: { host, port: options.outbound.port, family },
      knows: options.knows,
    };
  }

  /** Binds UDP then TCP on the same port (when listen.port is 0, a port free for both). Rejects with
   *  LISTEN_FAILED. */
  start(): Promise<void> {
    this.starting ??= this.bind();
    return this.starting;
  }

  /** The bound address (UDP and TCP share the port). Throws before start() resolved. */
  address(): HostPort {
    const info = this.udp?.address();
    if (!info || !this.tcp) throw new Error('MeshDnsServer is not listening');
    return { host: info.address, port: info.port };
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async bind(): Promise<void> {
    const { listen } = this.options;
    for (let attempt = 1; ; attempt++) {
      const udp = await this.bindUdp(listen);
      const port = udp.address().port;
      try {
        this.tcp = await this.bindTcp({ host: listen.host, port });
        this.udp = udp;
        break;
      } catch (err) {
        udp.close();
        // An ephemeral UDP port may be taken for TCP: pick another pair.
        if (listen.port !== 0 || attempt >= BIND_ATTEMPTS) throw err;
      }
    }
    if (this.closing) await this.release();
  }

  private bindUdp(listen: HostPort): Promise<UdpSocket> {
    return new Promise((resolveBind, reject) => {
      const socket = createSocket({ type: isIP(listen.host) === 6 ? 'udp6' : 'udp4' });
      socket.once('error', (err) => {
        try {
          socket.close();
        } catch {
          // never bound: nothing to close
        }
        reject(listenError('mesh DNS (listen.dns, UDP)', listen, err));
      });
      socket.bind({ address: listen.host, port: listen.port, exclusive: true }, () => {
        socket.removeAllListeners('error');
        socket.on('error', (err) => this.options.logger?.warn({ err }, 'mesh DNS UDP socket error'));
        socket.on('message', (message, peer) => this.serveUdp(socket, message, peer));
        resolveBind(socket);
      });
    });
  }

  private bindTcp(listen: HostPort): Promise<Server> {
    return new Promise((resolveBind, reject) => {
      const server = createServer((socket) => this.serveTcp(socket));
      server.maxConnections = MAX_TCP_CONNECTIONS;
      server.once('error', (err) => reject(listenError('mesh DNS (listen.dns, TCP)', listen, err)));
      server.listen({ host: listen.host, port: listen.port, exclusive: true }, () => {
        server.removeAllListeners('error');
        server.on('error', (err) => this.options.logger?.warn({ err }, 'mesh DNS TCP listener error'));
        resolveBind(server);
      });
    });
  }

  /** Never throws: the 'message' event has no one to catch it, and an exception would end the process. */
  private serveUdp(socket: UdpSocket, message: Buffer, peer: RemoteInfo): void {
    // Port 0 is legal on the wire but cannot be answered (send() throws): no client sends from it.
    if (peer.port === 0) return;
    const response = this.answer(message, 'udp');
    if (!response) return;
    try {
      socket.send(response, peer.port, peer.address, () => {});
    } catch (err) {
      this.options.logger?.warn({ err }, 'mesh DNS could not send an answer');
    }
  }

  /** TCP framing (RFC 1035 4.2.2): each message is preceded by its length in two bytes. */
  private serveTcp(socket: Socket): void {
    const address = clientNetworkOf(socket.remoteAddress ?? '');
    const open = this.connectionsByAddress.get(address) ?? 0;
    if (open >= (this.options.tcpConnectionsPerAddress ?? MAX_TCP_CONNECTIONS_PER_ADDRESS)) {
      socket.destroy();
      return;
    }
    this.connectionsByAddress.set(address, open + 1);
    this.connections.add(socket);
    // The idle timeout restarts on every byte, so a message also has a deadline from its first byte:
    // otherwise a byte every few seconds would hold a connection forever.
    let deadline: NodeJS.Timeout | undefined;
    socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      clearTimeout(deadline);
      this.connections.delete(socket);
      const left = (this.connectionsByAddress.get(address) ?? 1) - 1;
      if (left > 0) this.connectionsByAddress.set(address, left);
      else this.connectionsByAddress.delete(address);
    });
    let buffered: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      let completed = false;
      while (buffered.length >= 2) {
        const length = buffered.readUInt16BE(0);
        if (buffered.length < 2 + length) break;
        const message = buffered.subarray(2, 2 + length);
        buffered = buffered.subarray(2 + length);
        completed = true;
        const response = this.answer(message, 'tcp');
        // Not a query (a response, or shorter than an id): not a DNS client, and empty frames must not
        // keep the connection open past the message deadline.
        if (!response) {
          socket.destroy();
          return;
        }
        const frame = Buffer.alloc(2 + response.length);
        frame.writeUInt16BE(response.length, 0);
        response.copy(frame, 2);
        socket.write(frame);
      }
      if (buffered.length === 0 || completed) {
        clearTimeout(deadline);
        deadline = undefined;
      }
      if (buffered.length > 0 && deadline === undefined) {
        const timeoutMs = this.options.tcpMessageTimeoutMs ?? TCP_MESSAGE_TIMEOUT_MS;
        deadline = setTimeout(() => socket.destroy(), timeoutMs).unref();
      }
      // A client that pipelines queries and does not read its answers: stop reading until it does,
      // rather than buffer answers without bound (the idle timeout ends a client that never reads).
      if (socket.writableNeedDrain && !socket.isPaused()) {
        socket.pause();
        socket.once('drain', () => socket.resume());
      }
    });
  }

  private answer(message: Buffer, transport: 'udp' | 'tcp'): Buffer | undefined {
    try {
      return answerQuery(message, this.zone, transport);
    } catch (err) {
      // A bug or a throwing knows(): log it and answer nothing rather than crash.
      this.options.logger?.error({ err }, 'mesh DNS could not answer a query');
      return undefined;
    }
  }

  private async shutdown(): Promise<void> {
    await this.starting?.catch(() => {});
    await this.release();
  }

  private async release(): Promise<void> {
    const { udp, tcp } = this;
    this.udp = undefined;
    this.tcp = undefined;
    for (const socket of this.connections) socket.destroy();
    await Promise.all([
      udp ? new Promise<void>((r) => udp.close(() => r())) : undefined,
      tcp ? new Promise<void>((r) => tcp.close(() => r())) : undefined,
    ]);
  }
}
