// A small typed client of the control API, for weft's own tools (demo, tests) and for agents written in
// TypeScript. Failures are grpc ServiceErrors: branch on `err.code` (grpc.status).
import * as grpc from '@grpc/grpc-js';
import { formatHostPort, type HostPort } from '../config/index.js';
import {
  registryClientConstructor,
  type FabricStateMessage,
  type HoldRequest,
  type HoldResponse,
  type RegistrationMessage,
} from './registry-proto.js';

export interface RegistrationInput {
  readonly name: string;
  readonly namespace?: string;
  readonly protocol?: string;
  /** "host:port" or { address, weight }. */
  readonly endpoints: readonly (string | { readonly address: string; readonly weight?: number })[];
  readonly allow?: readonly string[];
}

export function registrationMessage(input: RegistrationInput): RegistrationMessage {
  return {
    name: input.name,
    namespace: input.namespace ?? '',
    protocol: input.protocol ?? '',
    endpoints: input.endpoints.map((e) =>
      typeof e === 'string' ? { address: e, weight: 0 } : { address: e.address, weight: e.weight ?? 0 },
    ),
    allow: [...(input.allow ?? [])],
  };
}

type Unary<Req, Res> = (
  request: Req,
  callback: (err: grpc.ServiceError | null, response?: Res) => void,
) => void;

interface RawRegistryClient extends grpc.Client {
  Register: Unary<{ registration: RegistrationMessage }, { id: string }>;
  Deregister: Unary<{ id: string }, object>;
  Hold(): grpc.ClientDuplexStream<HoldRequest, HoldResponse>;
  Watch(request: object): grpc.ClientReadableStream<FabricStateMessage>;
}

export class RegistryClient {
  private readonly raw: RawRegistryClient;

  /** `address` is the gateway's listen.control, e.g. "127.0.0.1:9991". */
  constructor(address: string | HostPort) {
    const Client = registryClientConstructor();
    const target = typeof address === 'string' ? address : formatHostPort(address);
    this.raw = new Client(target, grpc.credentials.createInsecure()) as unknown as RawRegistryClient;
  }

  register(input: RegistrationInput): Promise<string> {
    return new Promise((resolveId, reject) => {
      this.raw.Register({ registration: registrationMessage(input) }, (err, response) => {
        if (err) reject(err);
        else resolveId(response?.id ?? '');
      });
    });
  }

  deregister(id: string): Promise<void> {
    return new Promise((resolveDone, reject) => {
      this.raw.Deregister({ id }, (err) => (err ? reject(err) : resolveDone()));
    });
  }

  /** Opens a Hold stream: write `{ register: registrationMessage(...) }` or `{ deregister: id }`. */
  hold(): grpc.ClientDuplexStream<HoldRequest, HoldResponse> {
    return this.raw.Hold();
  }

  watch(): grpc.ClientReadableStream<FabricStateMessage> {
    return this.raw.Watch({});
  }

  close(): void {
    this.raw.close();
  }
}
