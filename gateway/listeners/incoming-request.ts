// The ProxyRequest that an HTTP/1.1 request parsed by Node's http server stands for: its end-to-end
// fields (hop-by-hop and weft fields dropped, see proxy-headers.ts), Host as the authority, and the
// IncomingMessage itself as the body stream when there is one. Used by the outbound listener's HTTP/1
// server and by lanes handed to Node's parser on the peer side.
import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors.js';
import {
  headersFromRawH1,
  originFormTarget,
  fieldCountError,
  headError,
  type H1RequestFacts,
} from '../routing/proxy-headers.js';
import type { ProxyRequest, TracedRequest } from '../upstream/exchange.js';

/**
 * The request, or the refusal of a head the gateway must not pass on (see headError, originFormTarget). An
 * app's request (`fromApp`; not a lane from a peer, which adds its own fields) is held to
 * MAX_REQUEST_FIELDS.
 */
export function requestOfIncoming(req: IncomingMessage, fromApp: boolean): ProxyRequest | GatewayError {
  const facts: H1RequestFacts = { authority: '', hostLines: 0, bodyLength: 0, upgrade: '', grpc: false };
  const headers = headersFromRawH1(req.rawHeaders, facts);
  const bad = (fromApp ? fieldCountError(facts) : undefined) ?? headError(facts);
  if (bad) return bad;
  const path = originFormTarget(req.url ?? '/', facts);
  if (path instanceof GatewayError) return path;
  return {
    method: req.method ?? 'GET',
    path,
    authority: facts.authority,
    headers,
    bodyLength: facts.bodyLength,
    body: facts.bodyLength !== 0 ? req : null,
    grpc: facts.grpc,
  };
}

/** What the access log and span export are told of a head refused before it became a request. */
export function refusedRequestOf(req: IncomingMessage): TracedRequest {
  const host = req.headers.host;
  return { method: req.method ?? 'GET', path: req.url ?? '/', authority: host ?? '', headers: req.headers };
}
