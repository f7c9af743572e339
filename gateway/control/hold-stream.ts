// One Hold call: registrations made on the stream belong to it (catalog owner `hold:<n>`) and are removed
// when it ends in any way: the agent half-closes, crashes, loses its connection (grpc-js sees the HTTP/2
// session go away; keepalive pings catch silent peers), sends an invalid message, or the gateway closes.
import { status, type ServerDuplexStream } from '@grpc/grpc-js';
import type { LocalCatalog } from '../catalog/index.js';
import type { Logger } from '../logger.js';
import { ControlRequestError, registerOrExplain, toRegistration } from './registration-request.js';
import type { HoldRequest, HoldResponse } from './registry-proto.js';

export interface HoldContext {
  readonly catalog: LocalCatalog;
  readonly defaultNamespace: string;
  readonly logger: Logger;
}

export class HoldStream {
  readonly owner: string;
  private readonly call: ServerDuplexStream<HoldRequest, HoldResponse>;
  private readonly context: HoldContext;
  private readonly ids = new Set<string>();
  private done = false;
  private readonly onDone: (stream: HoldStream) => void;

  constructor(
    owner: string,
    call: ServerDuplexStream<HoldRequest, HoldResponse>,
    context: HoldContext,
    onDone: (stream: HoldStream) => void,
  ) {
    this.owner = owner;
    this.call = call;
    this.context = context;
    this.onDone = onDone;
    call.on('data', (request: HoldRequest) => this.handle(request));
    call.once('end', () => {
      // The agent half-closed: it is done with its registrations.
      this.finish();
      call.end();
    });
    call.once('cancelled', () => this.finish());
    call.once('close', () => this.finish());
    call.once('error', () => this.finish());
  }

  /** Ends the stream with UNAVAILABLE (the gateway is closing); its registrations are removed. */
  end(reason: string): void {
    this.fail(new ControlRequestError(status.UNAVAILABLE, reason));
  }

  private handle(request: HoldRequest): void {
    if (this.done) return;
    try {
      if (request.action === 'register') {
        const registration = toRegistration(request.register, this.context.defaultNamespace);
        const id = registerOrExplain(this.context.catalog, this.owner, registration);
        this.ids.add(id);
        this.call.write({ registered: id });
      } else if (request.action === 'deregister') {
        const id = request.deregister ?? '';
        if (!this.ids.delete(id)) {
          throw new ControlRequestError(
            status.NOT_FOUND,
            `no registration ${JSON.stringify(id)} on this stream`,
          );
        }
        this.context.catalog.deregister(id);
        this.call.write({ deregistered: id });
      } else {
        throw new ControlRequestError(status.INVALID_ARGUMENT, 'HoldRequest needs register or deregister');
      }
    } catch (err) {
      this.fail(err);
    }
  }

  private fail(err: unknown): void {
    if (this.done) return;
    const code = err instanceof ControlRequestError ? err.code : status.INTERNAL;
    const details = err instanceof Error ? err.message : String(err);
    if (code === status.INTERNAL) this.context.logger.error({ err, owner: this.owner }, 'hold stream failed');
    this.finish();
    this.call.emit('error', { code, details });
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    const removed = this.context.catalog.removeOwner(this.owner);
    if (removed > 0)
      this.context.logger.info({ owner: this.owner, removed }, 'hold stream ended; registrations removed');
    this.onDone(this);
  }
}
