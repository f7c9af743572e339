// An incremental HTTP/1.1 response parser for the pooled upstream client (RFC 9112): status line,
// header fields, and the body framed by Content-Length, chunked coding or connection close. Bodies are
// handed out as slices of the socket's buffers (no copies); chunked bodies are de-chunked because the
// downstream may be HTTP/2, which has its own framing. Interim 1xx answers are skipped, except 101.
// One response at a time: the client never pipelines. Errors are returned, never thrown.
import { GatewayError } from '../errors.js';
import { MAX_HEADER_LIST_PAIRS } from '../transport/h2-connection.js';
import { newHeaderMap, type HeaderMap } from './exchange.js';
import {
  chunkSizeOf,
  fieldNameOf,
  fieldValueIn,
  hasControlCharacter,
  isHopByHop,
} from '../routing/proxy-headers.js';

export const MAX_RESPONSE_HEAD_BYTES = 64 * 1024;
/**
 * As many as an HTTP/2 hop carries beside `:status` and the `date` Node adds: lanes bring other clusters'
 * answers through this parser, and an answer (a gRPC call's metadata) with more fields than a hop takes
 * would fail there and nowhere else.
 */
const MAX_HEADER_FIELDS = MAX_HEADER_LIST_PAIRS - 2;
const MAX_CHUNK_LINE_BYTES = 4096;
const CRLF2 = Buffer.from('\r\n\r\n', 'latin1');
const LF2 = Buffer.from('\n\n', 'latin1');
const CONTENT_LENGTH = /^\d{1,15}$/;
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: |\r\n|$)/;
const ONLY_CHUNKED = /^[ \t]*chunked[ \t]*$/i;
const IDENTITY = /^[ \t]*identity[ \t]*$/i;
const CLOSE_TOKEN = /(?:^|,)[ \t]*close[ \t]*(?:,|$)/;
const KEEP_ALIVE_TOKEN = /(?:^|,)[ \t]*keep-alive[ \t]*(?:,|$)/;
/**
 * List fields (RFC 9110 §5.3) that node:http2 sends only as one value: repeats are joined with ", ", or an
 * answer with two Content-Language lines could not reach an HTTP/2 caller. Other repeats stay lines of
 * their own (Set-Cookie must; a repeated single-value field is the endpoint's error, refused on HTTP/2).
 */
const JOINED_LIST_FIELDS = new Set(['content-encoding', 'content-language']);

export interface H1ResponseEvents {
  /** A final response head (or 101 Switching Protocols when `upgrade`). */
  /** An interim answer (1xx but 100 and 101), ahead of the final one. */
  onInterim?(status: number, headers: HeaderMap): void;
  /** `chunked`: the body that follows is chunked, so trailers may end it. */
  onResponseHead(status: number, headers: HeaderMap, upgrade: boolean, chunked: boolean): void;
  onResponseBody(chunk: Buffer): void;
  /** The response is complete. `keepAlive`: the connection may carry another request. */
  onResponseComplete(trailers: HeaderMap | null, keepAlive: boolean): void;
}

const enum State {
  Idle,
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  UntilClose,
  Done,
  Upgraded,
}

export class H1ResponseParser {
  private readonly events: H1ResponseEvents;
  private state = State.Idle;
  private noBody = false;
  private pending: Buffer | null = null;
  private remaining = 0;
  private line = '';
  private trailers: HeaderMap | null = null;
  private keepAlive = true;
  private trailerBytes = 0;
  private trailerFields = 0;

  constructor(events: H1ResponseEvents) {
    this.events = events;
  }

  /** Expects the response to a new request; `headRequest`: a HEAD request, whose response has no body. */
  start(headRequest: boolean): void {
    this.state = State.Head;
    this.noBody = headRequest;
    this.pending = null;
    this.trailers = null;
    this.keepAlive = true;
    this.trailerBytes = 0;
    this.trailerFields = 0;
  }

  /** True between `start` and the end of the response. */
  get busy(): boolean {
    return this.state !== State.Idle && this.state !== State.Done && this.state !== State.Upgraded;
  }

  /** True once a head was delivered (a failure now must reset the downstream, not answer it). */
  get headDelivered(): boolean {
    return this.state !== State.Head && this.state !== State.Idle;
  }

  /**
   * Feeds bytes from the socket. Returns an error (the connection must be dropped), a Buffer of bytes
   * that follow a 101 response (they belong to the upgraded protocol), or undefined.
   */
  execute(chunk: Buffer): GatewayError | Buffer | undefined {
    let data = chunk;
    let at = 0;
    while (at < data.length) {
      switch (this.state) {
        case State.Head: {
          if (this.pending) {
            data = Buffer.concat([this.pending, at === 0 ? data : data.subarray(at)]);
            at = 0;
            this.pending = null;
          }
          const end = data.indexOf(CRLF2, at);
          if (end < 0) {
            if (data.length - at > MAX_RESPONSE_HEAD_BYTES) return protocolError('response head too large');
            // A head ended by bare line feeds: no CRLF CRLF will come, and waiting would hold the caller
            // until the request timeout. (One with a bare LF inside fails in parseHead.)
            if (data.indexOf(LF2, at) >= 0) return bareLineFeeds();
            this.pending = at === 0 ? data : data.subarray(at);
            return undefined;
          }
          if (end - at > MAX_RESPONSE_HEAD_BYTES) return protocolError('response head too large');
          const head = data.toString('latin1', at, end);
          const problem = this.parseHead(head);
          at = end + 4;
          // The same refusal however the bytes were split: whole, such a head fails in parseHead.
          if (problem) return head.includes('\n\n') ? bareLineFeeds() : problem;
          if ((this.state as State) === State.Upgraded)
            return at < data.length ? data.subarray(at) : undefined;
          break;
        }
        case State.Length: {
          const take = Math.min(this.remaining, data.length - at);
          const piece = at === 0 && take === data.length ? data : data.subarray(at, at + take);
          at += take;
          this.remaining -= take;
          this.events.onResponseBody(piece);
          if (this.remaining === 0) this.complete();
          break;
        }
        case State.ChunkSize: {
          const problem = this.readChunkSize(data, at);
          if (typeof problem !== 'number') return problem;
          at = problem;
          break;
        }
        case State.ChunkData: {
          const take = Math.min(this.remaining, data.length - at);
          this.events.onResponseBody(data.subarray(at, at + take));
          at += take;
          this.remaining -= take;
          if (this.remaining === 0) {
            this.state = State.ChunkDataEnd;
            this.remaining = 2;
          }
          break;
        }
        case State.ChunkDataEnd: {
          // `remaining` counts down the CR LF that closes a chunk, which may come split across reads.
          if (data[at] !== (this.remaining === 2 ? 13 : 10))
            return protocolError('chunk data not followed by CRLF');
          at++;
          if (--this.remaining === 0) this.state = State.ChunkSize;
          break;
        }
        case State.Trailers: {
          const next = this.readLine(data, at);
          if (typeof next !== 'number') return next;
          if (next < 0) return undefined;
          // The whole line, however many reads it came in, and its CRLF.
          this.trailerBytes += this.line.length + 2;
          at = next;
          if (this.trailerBytes > MAX_RESPONSE_HEAD_BYTES) return protocolError('trailer section too large');
          if (this.line === '') {
            this.complete();
            break;
          }
          if (++this.trailerFields > MAX_HEADER_FIELDS) return protocolError('too many trailer fields');
          const problem = this.addTrailer(this.line);
          this.line = '';
          if (problem) return problem;
          break;
        }
        case State.UntilClose:
          this.events.onResponseBody(at === 0 ? data : data.subarray(at));
          return undefined;
        case State.Upgraded:
          return at === 0 ? data : data.subarray(at);
        case State.Idle:
        case State.Done:
          return protocolError('upstream sent bytes without a request');
      }
    }
    return undefined;
  }

  /** The upstream closed its side. Completes a close-delimited body; anything else is truncated. */
  finish(): GatewayError | undefined {
    if (this.state === State.UntilClose) {
      this.keepAlive = false;
      this.complete();
      return undefined;
    }
    if (this.busy) return new GatewayError('UPSTREAM_RESET', 'upstream closed the connection mid-response');
    return undefined;
  }

  private parseHead(head: string): GatewayError | undefined {
    // The status line ends at the first CRLF and holds no other control character: a bare LF or CR in
    // it would hide the field that follows (a Transfer-Encoding, say) from the framing.
    let at = head.indexOf('\r\n');
    const statusLine = STATUS_LINE.exec(head);
    if (!statusLine || hasControlCharacter(head, 0, at < 0 ? head.length : at))
      return protocolError('malformed status line');
    const minor = statusLine[1] === '1' ? 1 : 0;
    const status = Number(statusLine[2]);
    const headers: HeaderMap = newHeaderMap();
    let contentLength = -1;
    let chunked = false;
    /** Any Transfer-Encoding field, chunked or not (see keepAlive below). */
    let transferEncoding = false;
    let connectionTokens: string | undefined;
    let fields = 0;
    while (at >= 0) {
      const start = at + 2;
      let end = head.indexOf('\r\n', start);
      if (end < 0) end = head.length;
      at = end < head.length ? end : -1;
      if (++fields > MAX_HEADER_FIELDS) return protocolError('too many response header fields');
      const colon = head.indexOf(':', start);
      if (colon < 0 || colon > end) return protocolError('malformed response header line');
      const rawName = head.slice(start, colon);
      const name = fieldNameOf(rawName);
      if (name === undefined) return protocolError('malformed response header name');
      const value = fieldValueIn(head, colon + 1, end);
      if (value === undefined) return protocolError(`control character in header ${rawName}`);
      if (name === 'content-length') {
        if (!CONTENT_LENGTH.test(value)) return protocolError('invalid Content-Length');
        const length = Number(value);
        if (contentLength !== -1) {
          // A repeat is allowed only with the same value, and kept once (HTTP/2 refuses a list).
          if (contentLength !== length) return protocolError('conflicting Content-Length');
          continue;
        }
        contentLength = length;
      } else if (name === 'transfer-encoding') {
        // Passed on, the caller would get coded bytes unmarked (the field is hop-by-hop): chunked only. An
        // answer without a body has nothing coded, and `identity` (obsolete) codes nothing.
        transferEncoding = true;
        if (ONLY_CHUNKED.test(value)) chunked = true;
        else if (
          !IDENTITY.test(value) &&
          !(this.noBody || status === 204 || status === 304 || status < 200)
        ) {
          return protocolError(
            `Transfer-Encoding ${JSON.stringify(value)}: the gateway decodes chunked only`,
          );
        }
        continue;
      } else if (name === 'connection') {
        connectionTokens = connectionTokens ? `${connectionTokens},${value}` : value;
        continue;
      } else if (isHopByHop(name)) {
        // Upgrade is kept where it is the answer: the protocol a 101 switches to, those a 426 requires.
        if (!((status === 101 || status === 426) && name === 'upgrade')) continue;
      }
      const previous = headers[name];
      if (previous === undefined) headers[name] = value;
      else if (typeof previous !== 'string') previous.push(value);
      else if (JOINED_LIST_FIELDS.has(name)) headers[name] = `${previous}, ${value}`;
      else headers[name] = [previous, value];
    }
    const tokens = connectionTokens?.toLowerCase();
    if (tokens) {
      for (const token of tokens.split(',')) {
        const listed = token.trim();
        if (listed && listed !== 'close' && listed !== 'keep-alive' && listed !== 'upgrade')
          delete headers[listed];
      }
    }
    // Content-Length beside Transfer-Encoding, or Transfer-Encoding in HTTP/1.0, is framing a peer may
    // read differently (RFC 9112 §6.1, §6.3): this answer is read as framed above, and the connection
    // carries no other.
    this.keepAlive =
      !(transferEncoding && (contentLength !== -1 || minor === 0)) &&
      (minor === 1 ? !CLOSE_TOKEN.test(tokens ?? '') : KEEP_ALIVE_TOKEN.test(tokens ?? ''));
    if (status < 200) {
      if (status === 101) {
        this.state = State.Upgraded;
        this.keepAlive = false;
        this.events.onResponseHead(status, headers, true, false);
        return undefined;
      }
      // 100 Continue is the gateway's own business (it answers a caller's Expect itself); others pass on.
      if (status !== 100) this.events.onInterim?.(status, headers);
      return undefined;
    }
    if (chunked) delete headers['content-length'];
    this.events.onResponseHead(status, headers, false, chunked);
    if (this.noBody || status === 204 || status === 304) {
      this.complete();
    } else if (chunked) {
      this.state = State.ChunkSize;
      this.line = '';
    } else if (contentLength >= 0) {
      this.remaining = contentLength;
      this.state = State.Length;
      if (contentLength === 0) this.complete();
    } else {
      this.state = State.UntilClose;
    }
    return undefined;
  }

  /** Reads one chunk-size line; returns the offset after it, or an error. */
  private readChunkSize(data: Buffer, at: number): number | GatewayError {
    const next = this.readLine(data, at);
    if (typeof next !== 'number') return next;
    if (next < 0) return data.length;
    const size = chunkSizeOf(this.line);
    this.line = '';
    if (size === undefined) return protocolError('invalid chunk size');
    if (size === 0) {
      this.state = State.Trailers;
    } else {
      this.remaining = size;
      this.state = State.ChunkData;
    }
    return next;
  }

  /**
   * Accumulates bytes into `this.line` up to CRLF. Returns the offset after the CRLF, -1 when the line
   * continues in the next chunk, or an error when it is longer than MAX_CHUNK_LINE_BYTES.
   */
  private readLine(data: Buffer, at: number): number | GatewayError {
    const lf = data.indexOf(10, at);
    const end = lf < 0 ? data.length : lf;
    this.line += data.toString('latin1', at, end);
    if (this.line.length > MAX_CHUNK_LINE_BYTES) return protocolError('chunk framing line too long');
    if (lf < 0) return -1;
    if (!this.line.endsWith('\r')) return protocolError('chunk framing line not ended by CRLF');
    this.line = this.line.slice(0, -1);
    return lf + 1;
  }

  private addTrailer(line: string): GatewayError | undefined {
    const colon = line.indexOf(':');
    const name = colon > 0 ? fieldNameOf(line.slice(0, colon)) : undefined;
    if (name === undefined) return protocolError('malformed trailer field');
    if (isHopByHop(name) || name === 'content-length') return undefined;
    const value = fieldValueIn(line, colon + 1, line.length);
    if (value === undefined) return protocolError('control character in a trailer');
    this.trailers ??= newHeaderMap();
    const previous = this.trailers[name];
    if (previous === undefined) this.trailers[name] = value;
    else if (typeof previous === 'string') this.trailers[name] = [previous, value];
    else previous.push(value);
    return undefined;
  }

  private complete(): void {
    this.state = State.Done;
    this.events.onResponseComplete(this.trailers, this.keepAlive);
  }
}

function bareLineFeeds(): GatewayError {
  return protocolError('response head lines end in LF without CR');
}

function protocolError(what: string): GatewayError {
  return new GatewayError('UPSTREAM_RESET', `upstream sent an invalid HTTP/1.1 response: ${what}`);
}
