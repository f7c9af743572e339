// Opaque TCP (a `tcp:` listener, a `weft-tcp` tunnel) reaches only services declared `protocol: tcp`. The
// bytes of a tunnel pass the gateway unread, so a tunnel to an HTTP or gRPC service would carry requests
// past the rules the gateway applies to them: a `weft-source-cluster` of the caller's choosing, above all.
import { GatewayError } from '../errors.js';
import type { Protocol } from '../../discovery/index.js';

export function refuseNonTcp(route: {
  readonly service: string;
  readonly protocol: Protocol;
}): GatewayError | undefined {
  if (route.protocol === 'tcp') return undefined;
  return new GatewayError(
    'BAD_REQUEST',
    `service ${route.service} speaks ${route.protocol}: opaque TCP reaches only services with protocol tcp; call it by name over ${route.protocol === 'grpc' ? 'gRPC' : 'HTTP'} instead`,
  );
}
