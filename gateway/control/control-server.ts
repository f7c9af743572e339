// The control API listener (listen.control): gRPC service weft.registry.v1.Registry (registry.proto).
// Local agents register endpoints (Register/Deregister, or Hold for registrations that live as long as
// a stream) and follow the fabric (Watch). The API is unauthenticated: it binds loopback addresses only
// unless `allowRemote` is set. Lifecycle: construct (no side effects) → start() → close() (ends Watch
// and Hold streams with UNAVAILABLE, then shuts the server down); both idempotent.
import * as grpc from '@grpc/grpc-js';
import type { FabricView } from '../../discovery/index.js';
import type { LocalCatalog } from '../catalog/index.js';
import { formatHostPort, type HostPort } from '../config/index.js';
import { isLoopbackIp } from '../config/ip-address.js';
import { GatewayError } from '../errors.js';
import { listenError } from '../listen-error.js';
import type { Logger } from '../logger.js';
import { HoldStream } from './hold-stream.js';
import { ControlRequestError, registerOrExplain, toRegistration } from './registration-request.js';
import {
  registryClientConstructor,
  type DeregisterRequest,
  type DeregisterResponse,
  type FabricStateMessage,
  type HoldRequest,
  type HoldResponse,
  type RegisterRequest,
  type RegisterResponse,
  type WatchRequest,
} from './registry-proto.js';
import { WatchStream, withSharedWatchMessages } from './watch-stream.js';

export interface ControlServerOptions {
  readonly listen: HostPort;
  readonly catalog: LocalCatalog;
  readonly view: FabricView;
  readonly logger: Logger;
  /** Namespace of registrations that name none; "default" unless given (pass config.defaultNamespace). */
  readonly defaultNamespace?: string;
  /** Permit a non-loopback listen address. The API has no authentication: anyone who reaches it can
   *  register endpoints and so divert this cluster's traffic. Off by default. */
  readonly allowRemote?: boolean;
  /** How long close() waits for calls to finish before cancelling them; default 2000. */
  readonly closeTimeoutMs?: number;
}

/** Registrations made with unary Register are owned by this name (Hold streams own theirs). */
const UNARY_OWNER = 'control:register';
const SHUTDOWN_REASON = 'the gateway is shutting down; reconnect and register again';

/** localhost, 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104, however the address is written. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || isLoopbackIp(host);
}

export class ControlServer {
  private readonly options: ControlServerOptions;
  private readonly defaultNamespace: string;
  private server: grpc.Server | undefined;
  private boundPort = 0;
  private starting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private readonly unaryIds = new Set<string>();
  private readonly watches = new Set<WatchStream>();
  private readonly holds = new Set<HoldStream>();
  private nextHold = 1;

  constructor(options: ControlServerOptions) {
    this.options = options;
    this.defaultNamespace = options.defaultNamespace ?? 'default';
  }

  /** Binds the listener. Rejects with USAGE for a non-loopback address without allowRemote, and with
   *  LISTEN_FAILED when the address cannot be bound. */
  start(): Promise<void> {
    this.starting ??= this.bind();
    return this.starting;
  }

  /** The bound address (port resolved when listen.port was 0). Throws before start() resolved. */
  address(): HostPort {
    if (!this.server || this.boundPort === 0) throw new Error('ControlServer is not listening');
    return { host: this.options.listen.host, port: this.boundPort };
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async bind(): Promise<void> {
    const { listen } = this.options;
    if (!isLoopback(listen.host) && !this.options.allowRemote) {
      throw new GatewayError(
        'USAGE',
        `control API (listen.control) refuses ${formatHostPort(listen)}: it is unauthenticated and binds loopback addresses only (e.g. 127.0.0.1:9991)`,
      );
    }
    const server = new grpc.Server({
      // Detect agents that vanished without closing their connection (a Hold must not outlive them).
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
    });
    server.addService(withSharedWatchMessages(registryClientConstructor().service), {
      Register: this.register.bind(this),
      Deregister: this.deregister.bind(this),
      Hold: this.hold.bind(this),
      Watch: this.watch.bind(this),
    } satisfies grpc.UntypedServiceImplementation);
    this.boundPort = await new Promise<number>((resolveBind, reject) => {
      server.bindAsync(formatHostPort(listen), grpc.ServerCredentials.createInsecure(), (err, port) => {
        if (err) {
          server.forceShutdown();
          reject(listenError('control API (listen.control)', listen, err));
        } else resolveBind(port);
      });
    });
    if (this.closing) {
      server.forceShutdown();
      return;
    }
    this.server = server;
  }

  private register(
    call: grpc.ServerUnaryCall<RegisterRequest, RegisterResponse>,
    done: grpc.sendUnaryData<RegisterResponse>,
  ): void {
    try {
      const registration = toRegistration(call.request.registration, this.defaultNamespace);
      const id = registerOrExplain(this.options.catalog, UNARY_OWNER, registration);
      this.unaryIds.add(id);
      this.options.logger.info(
        { id, service: `${registration.name}.${registration.namespace}` },
        'registered',
      );
      done(null, { id });
    } catch (err) {
      done(this.statusOf(err));
    }
  }

  private deregister(
    call: grpc.ServerUnaryCall<DeregisterRequest, DeregisterResponse>,
    done: grpc.sendUnaryData<DeregisterResponse>,
  ): void {
    const { id } = call.request;
    if (!this.unaryIds.delete(id)) {
      done({
        code: grpc.status.NOT_FOUND,
        details: `no registration ${JSON.stringify(id)} made with Register (a Hold stream's registrations end with the stream)`,
      });
      return;
    }
    this.options.catalog.deregister(id);
    this.options.logger.info({ id }, 'deregistered');
    done(null, {});
  }

  private hold(call: grpc.ServerDuplexStream<HoldRequest, HoldResponse>): void {
    if (this.closing) {
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: SHUTDOWN_REASON });
      return;
    }
    const owner = `hold:${this.nextHold++}`;
    const { catalog, logger } = this.options;
    this.holds.add(
      new HoldStream(owner, call, { catalog, logger, defaultNamespace: this.defaultNamespace }, (s) =>
        this.holds.delete(s),
      ),
    );
  }

  private watch(call: grpc.ServerWritableStream<WatchRequest, FabricStateMessage>): void {
    if (this.closing) {
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: SHUTDOWN_REASON });
      return;
    }
    this.watches.add(new WatchStream(call, this.options.view, (s) => this.watches.delete(s)));
  }

  private statusOf(err: unknown): Partial<grpc.StatusObject> {
    if (err instanceof ControlRequestError) return { code: err.code, details: err.message };
    this.options.logger.error({ err }, 'control API request failed');
    return { code: grpc.status.INTERNAL, details: err instanceof Error ? err.message : String(err) };
  }

  private async shutdown(): Promise<void> {
    await this.starting?.catch(() => {});
    const server = this.server;
    if (!server) return;
    for (const watch of [...this.watches]) watch.end(SHUTDOWN_REASON);
    for (const hold of [...this.holds]) hold.end(SHUTDOWN_REASON);
    await new Promise<void>((resolveClose) => {
      const force = setTimeout(() => {
        server.forceShutdown();
        resolveClose();
      }, this.options.closeTimeoutMs ?? 2_000);
      force.unref();
      server.tryShutdown(() => {
        clearTimeout(force);
        resolveClose();
      });
    });
  }
}
