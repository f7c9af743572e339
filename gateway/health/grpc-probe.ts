// gRPC health check: grpc.health.v1.Health/Check (gateway/health/grpc-health.proto) for a service name
// ("" asks about the whole server); SERVING is healthy. Each check uses its own channel with a private
// subchannel pool, so a channel's reconnect backoff never delays noticing that an endpoint came back.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { formatHostPort } from '../config/index.js';
import { fromPackageRoot } from '../package-root.js';
import { HEALTHY, probeAttempt, unhealthy, type HealthProbe } from './health-probe.js';

export const GRPC_HEALTH_PROTO = fromPackageRoot('gateway/health/grpc-health.proto');

interface HealthCheckResponse {
  status: string;
}

type HealthClient = grpc.Client & {
  Check(
    request: { service: string },
    options: grpc.CallOptions,
    callback: (err: grpc.ServiceError | null, response?: HealthCheckResponse) => void,
  ): grpc.ClientUnaryCall;
};

let healthClient:
  (new (address: string, credentials: grpc.ChannelCredentials, options: object) => HealthClient) | undefined;

function healthClientConstructor() {
  if (!healthClient) {
    const definition = protoLoader.loadSync(GRPC_HEALTH_PROTO, {
      keepCase: true,
      enums: String,
      defaults: true,
    });
    const pkg = grpc.loadPackageDefinition(definition);
    const v1 = ((pkg.grpc as grpc.GrpcObject).health as grpc.GrpcObject).v1 as grpc.GrpcObject;
    healthClient = v1.Health as unknown as typeof healthClient;
  }
  return healthClient as NonNullable<typeof healthClient>;
}

const CHANNEL_OPTIONS = {
  'grpc.use_local_subchannel_pool': 1,
  'grpc.enable_retries': 0,
  'grpc.primary_user_agent': 'weft-health-check',
};

export function grpcProbe(service: string): HealthProbe {
  return (target, signal) =>
    probeAttempt(signal, (finish) => {
      const Client = healthClientConstructor();
      const client = new Client(formatHostPort(target), grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
      const call = client.Check({ service }, {}, (err, response) => {
        if (err) finish(unhealthy(`gRPC ${grpc.status[err.code] ?? err.code}: ${err.details}`));
        else if (response?.status === 'SERVING') finish(HEALTHY);
        else finish(unhealthy(`gRPC health status ${response?.status ?? 'missing'}`));
      });
      // Closing the channel does not end a call in flight: an abort cancels it (a no-op once answered).
      return () => {
        client.close();
        call.cancel();
      };
    });
}
