// The demo's gRPC workload: weft.demo.Greeter (unary SayHello, bidirectional Chat) plus the standard
// grpc.health.v1 Health service, so gRPC health checks and calls through the mesh can be shown.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fromPackageRoot } from '../../package-root.js';

export const GREETER_PROTO = fromPackageRoot('gateway/demo/workloads/greeter.proto');
export const HEALTH_PROTO = fromPackageRoot('gateway/health/grpc-health.proto');

interface HelloRequest {
  name: string;
}
interface HelloReply {
  message: string;
  cluster: string;
}

type ServiceCtor = typeof grpc.Client & { service: grpc.ServiceDefinition };

export function loadGrpcPackage(protoPath: string): grpc.GrpcObject {
  const definition = protoLoader.loadSync(protoPath, { keepCase: true, enums: String, defaults: true });
  return grpc.loadPackageDefinition(definition);
}

/** The Greeter client constructor, for callers (the demo's smoke run, tests). */
export function greeterClientConstructor(): ServiceCtor {
  const demo = (loadGrpcPackage(GREETER_PROTO).weft as grpc.GrpcObject).demo as grpc.GrpcObject;
  return demo.Greeter as ServiceCtor;
}

export class GreeterGrpcServer {
  private readonly server = new grpc.Server();
  private readonly address: string;
  private serving = true;

  constructor(host: string, port: number, cluster: string) {
    this.address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    const Greeter = greeterClientConstructor();
    const health = ((loadGrpcPackage(HEALTH_PROTO).grpc as grpc.GrpcObject).health as grpc.GrpcObject)
      .v1 as grpc.GrpcObject;
    const Health = health.Health as ServiceCtor;

    this.server.addService(Greeter.service, {
      SayHello: (
        call: grpc.ServerUnaryCall<HelloRequest, HelloReply>,
        done: grpc.sendUnaryData<HelloReply>,
      ) => {
        done(null, { message: `hello, ${call.request.name}`, cluster });
      },
      Chat: (call: grpc.ServerDuplexStream<HelloRequest, HelloReply>) => {
        call.on('data', (request: HelloRequest) =>
          call.write({ message: `hello, ${request.name}`, cluster }),
        );
        call.on('end', () => call.end());
      },
    });
    this.server.addService(Health.service, {
      Check: (
        _call: grpc.ServerUnaryCall<unknown, unknown>,
        done: grpc.sendUnaryData<{ status: string }>,
      ) => {
        done(null, { status: this.serving ? 'SERVING' : 'NOT_SERVING' });
      },
      Watch: (call: grpc.ServerWritableStream<unknown, { status: string }>) => {
        call.write({ status: this.serving ? 'SERVING' : 'NOT_SERVING' });
      },
    });
  }

  /** Flips what the health service reports, to demonstrate health-driven failover. */
  setServing(serving: boolean): void {
    this.serving = serving;
  }

  start(): Promise<number> {
    return new Promise((resolveStart, reject) => {
      this.server.bindAsync(this.address, grpc.ServerCredentials.createInsecure(), (err, port) => {
        if (err) reject(err);
        else resolveStart(port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolveClose) => {
      this.server.tryShutdown(() => resolveClose());
      setTimeout(() => this.server.forceShutdown(), 2000).unref();
    });
  }
}
