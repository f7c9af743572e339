// Recognises the common HTTP/1.1 request the fast path can carry without Node's http server: a complete,
// well-formed head of a bodyless GET/HEAD/DELETE/OPTIONS, origin-form target, no Upgrade, Expect or
// Transfer-Encoding. Where the fast path reads bodies (lanes), also a request of any other method with
// one Content-Length or `Transfer-Encoding: chunked` (never both). Anything else (upgrades, oddities,
// errors) returns undefined and the connection goes to Node's http server, whose parser then answers
// or rejects it. Strict on purpose: being unsure is cheap here. The header object is built once, ready
// for HTTP/2 (pseudo-headers first) and for HTTP/1.1 (serializers skip names starting with ':').
import type { Readable } from 'node:stream';
import { newHeaderMap, type HeaderMap, type ProxyRequest } from '../upstream/exchange.js';
import {
  addRequestField,
  fieldNameOf,
  fieldValueIn,
  isDroppedByConnection,
  isToken,
  METHOD_HEADER,
  SERVICE_HEADER,
  SOURCE_CLUSTER_HEADER,
} from '../routing/proxy-headers.js';

export interface SimpleHead {
  readonly method: string;
  readonly path: string;
  readonly authority: string;
  /** Pseudo-headers (:method, :scheme, :authority, :path) and end-to-end fields, lower-case names. */
  readonly headers: HeaderMap;
  /** The caller wants the connection kept open after this answer. */
  readonly keepAlive: boolean;
  /** HTTP/1.0 caller (answers without chunked coding; keep-alive only when asked). */
  readonly http10: boolean;
  /** The weft-service field (set by a calling gateway on a lane; never kept in `headers`). */
  readonly service: string | undefined;
  /** 0: no body; n > 0: Content-Length n; -1: chunked. */
  readonly bodyLength: number;
  /** A gRPC call (content-type application/grpc*). */
  readonly grpc: boolean;
}

/** The request a simple head stands for, its headers shared (not copied); `body` when it has one. */
export function requestOfSimpleHead(head: SimpleHead, body: Readable | Buffer | null): ProxyRequest {
  return {
    method: head.method,
    path: head.path,
    authority: head.authority,
    headers: head.headers,
    bodyLength: head.bodyLength,
    body,
    grpc: head.grpc,
  };
}

const MAX_FIELDS = 100;
const TARGET = /^\/[\x21-\x7e]*$/;
const DIGITS = /^[0-9]{1,15}$/;
const BODYLESS_METHODS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS']);

/**
 * `head`: the request head as latin1 text, without the blank line that ends it. `bodies`: the caller
 * reads request bodies (else a request with one is left to Node's parser).
 */
export function parseSimpleHead(head: string, bodies = false): SimpleHead | undefined {
  const lineEnd = head.indexOf('\r\n');
  const requestLine = lineEnd < 0 ? head : head.slice(0, lineEnd);
  const sp1 = requestLine.indexOf(' ');
  const sp2 = requestLine.indexOf(' ', sp1 + 1);
  if (sp1 < 0 || sp2 < 0) return undefined;
  const method = requestLine.slice(0, sp1);
  if (!BODYLESS_METHODS.has(method) && (!bodies || method === 'CONNECT' || !isToken(method))) {
    return undefined;
  }
  const path = requestLine.slice(sp1 + 1, sp2);
  if (!TARGET.test(path)) return undefined;
  const version = requestLine.slice(sp2 + 1);
  const http10 = version === 'HTTP/1.0';
  if (!http10 && version !== 'HTTP/1.1') return undefined;

  const headers = newHeaderMap();
  headers[':method'] = method;
  headers[':scheme'] = 'http';
  headers[':authority'] = '';
  headers[':path'] = path;
  let authority: string | undefined;
  let service: string | undefined;
  let connection = '';
  let bodyLength = 0;
  let framings = 0;
  let grpc = false;
  let fields = 0;
  let at = lineEnd;
  while (at >= 0) {
    const start = at + 2;
    let end = head.indexOf('\r\n', start);
    if (end < 0) end = head.length;
    at = end < head.length ? end : -1;
    if (++fields > MAX_FIELDS) return undefined;
    const colon = head.indexOf(':', start);
    if (colon <= start || colon > end) return undefined;
    const name = fieldNameOf(head.slice(start, colon));
    if (name === undefined) return undefined;
    const value = fieldValueIn(head, colon + 1, end);
    if (value === undefined) return undefined;
    switch (name) {
      case 'host':
        if (authority !== undefined) return undefined;
        authority = value;
        continue;
      case 'content-length':
        if (value !== '0' && (!bodies || !DIGITS.test(value))) return undefined;
        bodyLength = Number(value);
        framings++;
        if (bodyLength === 0) continue;
        break;
      case 'transfer-encoding':
        if (!bodies || http10 || value.toLowerCase() !== 'chunked') return undefined;
        bodyLength = -1;
        framings++;
        continue;
      case 'content-type':
        grpc = value.startsWith('application/grpc');
        break;
      case 'upgrade':
      case 'expect':
      case 'http2-settings':
        return undefined;
      case 'connection':
        connection += `${value.toLowerCase()},`;
        continue;
      case 'te':
        if (value.toLowerCase() === 'trailers') headers.te = 'trailers';
        continue;
      case SERVICE_HEADER:
        service = value;
        continue;
      case 'keep-alive':
      case 'proxy-connection':
      case SOURCE_CLUSTER_HEADER:
      case METHOD_HEADER:
        continue;
    }
    addRequestField(headers, name, value);
  }
  if (framings > 1) return undefined;
  // HTTP/1.1 requires Host: Node's parser answers 400 for a head without one.
  if (authority === undefined && !http10) return undefined;
  let keepAlive = !http10;
  if (connection !== '') {
    let close = false;
    for (const token of connection.split(',')) {
      const listed = token.trim();
      if (listed === 'close') close = true;
      else if (listed === 'keep-alive') keepAlive = true;
      else if (isDroppedByConnection(listed)) delete headers[listed];
    }
    if (close) keepAlive = false;
  }
  headers[':authority'] = authority ?? '';
  return {
    method,
    path,
    authority: authority ?? '',
    headers,
    keepAlive,
    http10,
    service,
    bodyLength,
    grpc,
  };
}
