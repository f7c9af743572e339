// Which header fields a proxy passes on, drops or sets (RFC 9110 §7.6.1, RFC 9113 §8.2.2), and the
// gateway's own fields:
//   weft-source-cluster  the calling cluster, set by the gateway that hands the request to the
//                        destination service; any copy arriving from an app or a peer is replaced
//   weft-service         peer hop only: the service key the calling gateway resolved (name.namespace)
//   weft-error           on answers the gateway generated itself: the GatewayError code
//   weft-lane            on the CONNECT request that opens a lane: the protocol it carries (http/1.1)
//   weft-upgrade         peer hop only, on the answer to an upgrade (extended CONNECT): the endpoint's
//                        Upgrade field (the protocol it chose, or those a 426 asks for), which HTTP/2
//                        cannot carry as such
//   weft-method          peer hop only, on an upgrade (extended CONNECT): the caller's method when it is
//                        not GET (Docker's attach and kubectl's SPDY exec upgrade a POST)
import { GatewayError } from '../errors.js';
import { newHeaderMap, type HeaderMap } from '../upstream/exchange.js';

export const SOURCE_CLUSTER_HEADER = 'weft-source-cluster';
export const SERVICE_HEADER = 'weft-service';
export const ERROR_HEADER = 'weft-error';
export const LANE_HEADER = 'weft-lane';
export const UPGRADE_HEADER = 'weft-upgrade';
export const METHOD_HEADER = 'weft-method';

/** Connection-specific fields: meaningful for one hop only, never forwarded (HTTP/2 forbids them). */
export function isHopByHop(name: string): boolean {
  switch (name) {
    case 'connection':
    case 'keep-alive':
    case 'proxy-connection':
    case 'transfer-encoding':
    case 'upgrade':
    case 'te':
    case 'http2-settings':
      return true;
    default:
      return false;
  }
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** An RFC 9110 token (a method, a field name). */
export function isToken(text: string): boolean {
  return TOKEN.test(text);
}

/** Names seen before, raw spelling → lower case: a parsed head's names are mostly the same few. */
const KNOWN_NAMES = new Map<string, string>();
const MAX_KNOWN_NAMES = 1024;
const MAX_KNOWN_NAME_LENGTH = 64;

/**
 * The lower-case form of a raw field name, or undefined when it is not a token. Known names come from
 * a bounded cache: no regular expression and no new string per field, the bulk of parsing a head.
 */
export function fieldNameOf(raw: string): string | undefined {
  const known = KNOWN_NAMES.get(raw);
  if (known !== undefined) return known;
  if (!TOKEN.test(raw)) return undefined;
  const name = raw.toLowerCase();
  if (KNOWN_NAMES.size < MAX_KNOWN_NAMES && raw.length <= MAX_KNOWN_NAME_LENGTH) KNOWN_NAMES.set(raw, name);
  return name;
}

/**
 * String methods for the per-character loops below, called through String.prototype. `text.charCodeAt(i)`
 * first loads the method from `text`, and V8 types that load by the string's internal shape (flat, sliced,
 * concatenated, external…): these helpers read whole heads and single lines of several shapes, and the
 * parsers' optimised code then left each such load to a generic inline-cache call (`Builtins_LoadIC`,
 * 6.2–6.4% of the two gateways' CPU samples in the latency bench, 3.5–3.8% after). Through the
 * prototype's function, nothing is loaded from the string.
 */
// eslint-disable-next-line @typescript-eslint/unbound-method -- always called with .call(text, …)
const { charCodeAt: CHAR_CODE_AT, slice: SLICE } = String.prototype;

/**
 * The field value in `text` between `from` and `to`, without surrounding spaces and tabs; undefined
 * when it holds a control character. Values may hold HTAB, visible ASCII and obs-text, never CR, LF or
 * other controls (they would let a value start a new field or message: request / response splitting).
 */
export function fieldValueIn(text: string, from: number, to: number): string | undefined {
  let start = from;
  let end = to;
  while (start < end && isOws(CHAR_CODE_AT.call(text, start))) start++;
  while (end > start && isOws(CHAR_CODE_AT.call(text, end - 1))) end--;
  if (hasControlCharacter(text, start, end)) return undefined;
  return SLICE.call(text, start, end);
}

/** Whether `text` holds, between `from` and `to`, a control character other than HTAB (CR, LF, NUL, DEL…). */
export function hasControlCharacter(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const code = CHAR_CODE_AT.call(text, i);
    if ((code < 0x20 && code !== 0x09) || code === 0x7f) return true;
  }
  return false;
}

/** Hex digits of a chunk size (13 stay below 2^53), then an extension after optional BWS, or nothing. */
const CHUNK_SIZE_LINE = /^([0-9a-fA-F]{1,13})(?:[ \t]*;|$)/;

/**
 * The size a chunk-size line (without its CRLF) announces, or undefined when it is malformed. Spaces or
 * tabs may precede an extension (BWS, RFC 9112 §7.1.1); nothing else surrounds the size. An extension is
 * dropped, not passed on, but one holding a control character (a bare CR, NUL) makes the line malformed:
 * parsers that end lines differently would read such a body differently.
 */
export function chunkSizeOf(line: string): number | undefined {
  const digits = CHUNK_SIZE_LINE.exec(line)?.[1];
  if (digits === undefined || hasControlCharacter(line, digits.length, line.length)) return undefined;
  return parseInt(digits, 16);
}

function isOws(code: number): boolean {
  return code === 32 || code === 9;
}

/** The gateway's own request fields, which no caller may set. */
function isWeftRequestField(name: string): boolean {
  return name === SOURCE_CLUSTER_HEADER || name === SERVICE_HEADER || name === METHOD_HEADER;
}

/** What an HTTP/1.1 request head says about its body and its routing. */
export interface H1RequestFacts {
  /** The first Host field's value ('' when there is none). */
  authority: string;
  /** How many Host field lines the head has: more than one is a bad request (RFC 9112 §3.2). */
  hostLines: number;
  /** 0: none, n: Content-Length, -1: chunked (length unknown). */
  bodyLength: number;
  /** The Upgrade field, lower-cased; '' when absent. Node decides whether the request is an upgrade. */
  upgrade: string;
  /** Transfer-Encoding when it names a coding other than chunked (gzip, chunked); unset otherwise. */
  codings?: string;
  /** How many field lines the head has (set by headersFromRawH1). */
  fieldLines?: number;
  grpc: boolean;
}

/**
 * The path to forward, in origin form. A request target in absolute form (`GET http://hello/x HTTP/1.1`,
 * as an app that uses the gateway as its HTTP proxy sends) names the authority itself: it replaces Host
 * in `facts` (RFC 9112 §3.2.2, so weft routes where the endpoint would look), and the endpoint gets `/x`.
 * An absolute target without a host, or with user information before it, is a bad request (RFC 9110
 * §4.2.1 and §4.2.4: such URIs are invalid, and user information can hide where a request goes), and so
 * is one of another scheme, as Envoy refuses it.
 */
export function originFormTarget(target: string, facts: H1RequestFacts): string | GatewayError {
  // Origin form, what nearly every request has, without the scheme's regular expression.
  if (target.charCodeAt(0) === 47 /* '/' */ || target === '*') return target;
  const scheme = /^https?:\/\//i.exec(target);
  if (!scheme) {
    // Any other form (`ws://other/x`, `ftp://…`, `x`) would reach the endpoint as sent, and an endpoint
    // that takes the host from an absolute target would serve a name weft did not route by.
    return new GatewayError(
      'BAD_REQUEST',
      `the request target ${JSON.stringify(target.slice(0, 80))} is neither a path nor an http:// or ` +
        'https:// URI; send the path alone with a Host field, or http://<service>/<path>',
    );
  }
  const rest = target.slice(scheme[0].length);
  const end = rest.search(/[/?]/);
  const authority = end < 0 ? rest : rest.slice(0, end);
  if (authority === '' || authority.startsWith(':') || authority.includes('@')) {
    return new GatewayError(
      'BAD_REQUEST',
      `the request target ${JSON.stringify(target.slice(0, 80))} names no host, or user information ` +
        'before it; send http://<service>/<path>, or the path alone with a Host field',
    );
  }
  facts.authority = authority;
  const path = end < 0 ? '/' : rest.slice(end);
  return path.startsWith('/') ? path : `/${path}`;
}

/**
 * Builds the end-to-end fields of an HTTP/1.1 request from Node's rawHeaders (name, value, name, …),
 * dropping hop-by-hop fields, fields listed in Connection, Host (it becomes the authority), Expect
 * (the gateway answers 100-continue itself) and weft fields. `facts` is filled in on the way.
 */
export function headersFromRawH1(raw: readonly string[], facts: H1RequestFacts): HeaderMap {
  const headers = newHeaderMap();
  facts.fieldLines = raw.length / 2;
  let connectionTokens = '';
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    switch (name) {
      case 'host':
        if (facts.hostLines++ === 0) facts.authority = value;
        continue;
      case 'content-length':
        facts.bodyLength = Number(value);
        break;
      case 'transfer-encoding':
        facts.bodyLength = -1;
        if (value.trim().toLowerCase() !== 'chunked') facts.codings = value;
        continue;
      case 'connection':
        connectionTokens += `${value},`;
        continue;
      case 'upgrade':
        facts.upgrade =
          facts.upgrade === '' ? value.toLowerCase() : `${facts.upgrade}, ${value.toLowerCase()}`;
        continue;
      case 'te':
        if (value.toLowerCase() === 'trailers') headers.te = 'trailers';
        continue;
      case 'expect':
        continue;
      case 'content-type':
        if (value.startsWith('application/grpc')) facts.grpc = true;
        break;
      default:
        if (isHopByHop(name) || isWeftRequestField(name)) continue;
    }
    addRequestField(headers, name, value);
  }
  if (connectionTokens !== '') dropConnectionListed(headers, connectionTokens);
  return headers;
}

/** Fields an app's request may have: what HTTP/2 hops carry (MAX_HEADER_LIST_PAIRS) less the gateway's. */
export const MAX_REQUEST_FIELDS = 2000;

/** 431 for an app's request with more than MAX_REQUEST_FIELDS fields (a head within the size limit). */
export function fieldCountError(facts: H1RequestFacts): GatewayError | undefined {
  if ((facts.fieldLines ?? 0) <= MAX_REQUEST_FIELDS) return undefined;
  return new GatewayError(
    'HEADERS_TOO_LARGE',
    `the request has ${facts.fieldLines} header fields; at most ${MAX_REQUEST_FIELDS} reach a service`,
  );
}

/**
 * The answer to a head Node's parser lets through but the gateway must refuse: more than one Host (RFC
 * 9112 §3.2: 400), or a transfer coding other than chunked (RFC 9112 §6.1: 501).
 */
export function headError(facts: H1RequestFacts): GatewayError | undefined {
  if (facts.hostLines > 1) {
    return new GatewayError(
      'BAD_REQUEST',
      `the request has ${facts.hostLines} Host fields; send exactly one (RFC 9112 §3.2)`,
    );
  }
  if (facts.codings !== undefined) {
    // Passed on, the endpoint would get the coded bytes unmarked; weft decodes chunked only.
    return new GatewayError(
      'NOT_IMPLEMENTED',
      `the request's Transfer-Encoding ${JSON.stringify(facts.codings)} names a coding the gateway does not ` +
        'decode; send the body chunked or with Content-Length (RFC 9112 §6.1)',
    );
  }
  return undefined;
}

/**
 * Adds one field line of a request. A repeated field becomes one value joined with ", " (RFC 9110 §5.3;
 * Cookie with "; ", RFC 9113 §8.2.3): the same to an HTTP/1.1 upstream, and HTTP/2 refuses a list for
 * single-value fields (two If-Match lines made every HTTP/2 hop throw).
 */
export function addRequestField(headers: HeaderMap, name: string, value: string): void {
  const previous = headers[name];
  if (previous === undefined) headers[name] = value;
  else headers[name] = `${String(previous)}${name === 'cookie' ? '; ' : ', '}${value}`;
}

/**
 * The regular fields of an HTTP/2 request, from its head as sent (name, value, …; Node's header object
 * keeps only the first of a repeated If-None-Match, Range and the like), repeats joined as HTTP/1.1
 * requests' are. Pseudo-headers, Host (the authority is carried as :authority) and weft fields are
 * dropped. HTTP/2 already forbids connection-specific fields; TE may only be `trailers`, which gRPC needs
 * and which is kept.
 */
export function headersFromH2(raw: readonly string[]): HeaderMap {
  const headers = newHeaderMap();
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    // Expect is the gateway's business, as on HTTP/1.1: it answers 100 Continue itself.
    if (
      name.charCodeAt(0) === 58 /* ':' */ ||
      name === 'host' ||
      name === 'expect' ||
      isWeftRequestField(name)
    )
      continue;
    addRequestField(headers, name, raw[i + 1] as string);
  }
  return headers;
}

/** Fields named in Connection are hop-by-hop too (RFC 9110 §7.6.1); framing fields are kept. */
function dropConnectionListed(headers: HeaderMap, tokens: string): void {
  for (const token of tokens.toLowerCase().split(',')) {
    const name = token.trim();
    if (isDroppedByConnection(name)) delete headers[name];
  }
}

/**
 * Whether a (trimmed, lower-case) token of a Connection field names a field to drop: not the body's
 * framing or type, which the gateway needs, never a pseudo-header, and not TE, which every sender of TE
 * must list in Connection (RFC 9110 §10.1.4) and of which the gateway keeps `trailers` (gRPC needs it).
 */
export function isDroppedByConnection(name: string): boolean {
  return (
    name !== '' &&
    name.charCodeAt(0) !== 58 /* ':' */ &&
    name !== 'content-length' &&
    name !== 'content-type' &&
    name !== 'te'
  );
}
