// Recognises the common HTTP/1.1 request the fast path can carry without Node's http server: a complete,
// well-formed head of a bodyless GET/HEAD/DELETE/OPTIONS, origin-form target, no Upgrade, Expect or
// Transfer-Encoding. Anything else (bodies, upgrades, oddities, errors) returns undefined and the
// connection goes to Node's http server, whose parser then answers or rejects it. Strict on purpose:
// being unsure is cheap here. The header object is built once, ready for HTTP/2 (pseudo-headers
// first) and for HTTP/1.1 (serializers skip names starting with ':').
import type { HeaderMap, ProxyRequest } from '../upstream/exchange.js';
import { isValidFieldValue, SERVICE_HEADER, SOURCE_CLUSTER_HEADER } from '../routing/proxy-headers.js';

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
}

/** The bodyless request a simple head stands for, its headers shared (not copied). */
export function requestOfSimpleHead(head: SimpleHead): ProxyRequest {
  return {
    method: head.method,
    path: head.path,
    authority: head.authority,
    headers: head.headers,
    bodyLength: 0,
    body: null,
    grpc: false,
  };
}

const MAX_FIELDS = 100;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const TARGET = /^\/[\x21-\x7e]*$/;

/** `head`: the request head as latin1 text, without the blank line that ends it. */
export function parseSimpleHead(head: string): SimpleHead | undefined {
  const lineEnd = head.indexOf('\r\n');
  const requestLine = lineEnd < 0 ? head : head.slice(0, lineEnd);
  const sp1 = requestLine.indexOf(' ');
  const sp2 = requestLine.indexOf(' ', sp1 + 1);
  if (sp1 < 0 || sp2 < 0) return undefined;
  const method = requestLine.slice(0, sp1);
  if (method !== 'GET' && method !== 'HEAD' && method !== 'DELETE' && method !== 'OPTIONS') return undefined;
  const path = requestLine.slice(sp1 + 1, sp2);
  if (!TARGET.test(path)) return undefined;
  const version = requestLine.slice(sp2 + 1);
  const http10 = version === 'HTTP/1.0';
  if (!http10 && version !== 'HTTP/1.1') return undefined;

  const headers = Object.create(null) as HeaderMap;
  headers[':method'] = method;
  headers[':scheme'] = 'http';
  headers[':authority'] = '';
  headers[':path'] = path;
  let authority: string | undefined;
  let service: string | undefined;
  let connection = '';
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
    const rawName = head.slice(start, colon);
    if (!TOKEN.test(rawName)) return undefined;
    const value = trimOws(head.slice(colon + 1, end));
    if (!isValidFieldValue(value)) return undefined;
    const name = rawName.toLowerCase();
    switch (name) {
      case 'host':
        if (authority !== undefined) return undefined;
        authority = value;
        continue;
      case 'content-length':
        if (value !== '0') return undefined;
        continue;
      case 'transfer-encoding':
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
        continue;
    }
    const previous = headers[name];
    if (previous === undefined) headers[name] = value;
    else if (typeof previous === 'string') headers[name] = [previous, value];
    else previous.push(value);
  }
  let keepAlive = !http10;
  if (connection !== '') {
    for (const token of connection.split(',')) {
      const listed = token.trim();
      if (listed === 'close') keepAlive = false;
      else if (listed === 'keep-alive') keepAlive = true;
      else if (listed !== '' && listed.charCodeAt(0) !== 58) delete headers[listed];
    }
  }
  headers[':authority'] = authority ?? '';
  return { method, path, authority: authority ?? '', headers, keepAlive, http10, service };
}

function trimOws(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && (value.charCodeAt(start) === 32 || value.charCodeAt(start) === 9)) start++;
  while (end > start && (value.charCodeAt(end - 1) === 32 || value.charCodeAt(end - 1) === 9)) end--;
  return start === 0 && end === value.length ? value : value.slice(start, end);
}
