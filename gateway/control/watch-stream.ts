// One Watch call: writes the fabric state now and after every change of the view. Each message carries
// the full state, so when the reader is slow (write() returns false) intermediate states are dropped and
// only the latest is sent on 'drain': a slow agent costs one pending snapshot, never a growing queue.
// Every stream is sent the same message for a change, built and serialized once (a fabric of thousands
// of services makes a message of a few hundred KB and milliseconds of work).
import { status, type ServerWritableStream, type ServiceDefinition } from '@grpc/grpc-js';
import type { FabricSnapshot, FabricView } from '../../discovery/index.js';
import { fabricState } from './fabric-state.js';
import type { FabricStateMessage, WatchRequest } from './registry-proto.js';

const changes = new WeakMap<FabricSnapshot, FabricStateMessage>();

/** The message for a change to `snapshot`, shared by every stream. */
function changeMessage(snapshot: FabricSnapshot): FabricStateMessage {
  let message = changes.get(snapshot);
  if (!message) {
    message = fabricState(snapshot, false);
    changes.set(snapshot, message);
  }
  return message;
}

/** The Registry service with Watch answers serialized once per message, however many streams send it. */
export function withSharedWatchMessages(service: ServiceDefinition): ServiceDefinition {
  const watch = service.Watch;
  if (!watch) throw new Error('the Registry service has no Watch method');
  const serialize = watch.responseSerialize;
  const serialized = new WeakMap<object, Buffer>();
  const shared = (message: object): Buffer => {
    let bytes = serialized.get(message);
    if (!bytes) {
      bytes = serialize(message);
      serialized.set(message, bytes);
    }
    return bytes;
  };
  return { ...service, Watch: { ...watch, responseSerialize: shared } };
}

export class WatchStream {
  private readonly call: ServerWritableStream<WatchRequest, FabricStateMessage>;
  private readonly unsubscribe: () => void;
  private pending: FabricSnapshot | undefined;
  private blocked = false;
  private done = false;
  private readonly onDone: (stream: WatchStream) => void;

  /** Starts streaming at once; `onDone` runs once when the call ends for any reason. */
  constructor(
    call: ServerWritableStream<WatchRequest, FabricStateMessage>,
    view: FabricView,
    onDone: (stream: WatchStream) => void,
  ) {
    this.call = call;
    this.onDone = onDone;
    const finish = () => this.finish();
    call.once('cancelled', finish);
    call.once('close', finish);
    call.once('finish', finish);
    call.once('error', finish);
    call.on('drain', () => this.drained());
    this.unsubscribe = view.subscribe((snapshot) => this.push(snapshot, false));
    this.push(view.snapshot(), true);
  }

  /** Ends the stream with UNAVAILABLE so the agent knows to reconnect (the gateway is closing). */
  end(reason: string): void {
    if (this.done) return;
    this.call.emit('error', { code: status.UNAVAILABLE, details: reason });
    this.finish();
  }

  private push(snapshot: FabricSnapshot, initial: boolean): void {
    if (this.done) return;
    if (this.blocked) {
      this.pending = snapshot;
      return;
    }
    const message = initial ? fabricState(snapshot, true) : changeMessage(snapshot);
    if (!this.call.write(message)) this.blocked = true;
  }

  private drained(): void {
    this.blocked = false;
    const latest = this.pending;
    this.pending = undefined;
    if (latest) this.push(latest, false);
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.pending = undefined;
    this.unsubscribe();
    this.onDone(this);
  }
}
