// A request body read by the fast path (on lanes: gRPC calls and other requests with a body). Its
// connection feeds it the raw bytes after the head; it de-frames them (a Content-Length count, or
// chunked coding with extensions skipped and trailer fields checked, then dropped, as a request's
// trailers have nowhere to go) and pushes the body bytes to its readable side, which the upstream
// adapter consumes like any request body. What follows the body is handed back for the next request.
// Strict: a framing error marks the body invalid, and its connection answers 400 and closes, as Node's
// parser would.
import { Readable } from 'node:stream';
import { chunkSizeOf, hasControlCharacter, isToken } from '../routing/proxy-headers.js';

/** A chunk-size line (with extensions) or one trailer line may not be longer than this. */
const MAX_LINE_BYTES = 4096;
/** All trailer lines together. */
const MAX_TRAILER_BYTES = 16 * 1024;

const enum State {
  Size,
  Data,
  DataEnd,
  Trailers,
  Done,
}

export class FastRequestBody extends Readable {
  /** Why the framing is wrong, once it is; the body takes no more bytes then. */
  invalid: string | null = null;
  /** The last feed filled the consumer's buffer: stop reading until `onPull`. */
  full = false;
  private state: State;
  private readonly chunked: boolean;
  /** Bytes left in the current chunk (or of a Content-Length body). */
  private remaining: number;
  /** A line (chunk size, trailer) split across reads. */
  private line = '';
  private trailerBytes = 0;
  private readonly onPull: () => void;

  /** `length`: n > 0 bytes, or -1 for chunked coding. `onPull` runs when the consumer wants more. */
  constructor(length: number, onPull: () => void) {
    super();
    this.chunked = length < 0;
    this.remaining = this.chunked ? 0 : length;
    this.state = this.chunked ? State.Size : State.Data;
    this.onPull = onPull;
  }

  get complete(): boolean {
    return this.state === State.Done;
  }

  /** De-frames `data`. Returns the bytes that follow the body (null when the body took them all). */
  feed(data: Buffer): Buffer | null {
    this.full = false;
    let at = 0;
    while (at < data.length && this.state !== State.Done && this.invalid === null) {
      if (this.state === State.Data) {
        const take = Math.min(this.remaining, data.length - at);
        if (!this.push(data.subarray(at, at + take))) this.full = true;
        at += take;
        this.remaining -= take;
        if (this.remaining === 0) this.dataDone();
      } else if (this.state === State.DataEnd) {
        // `remaining` counts down the CR LF that closes a chunk.
        if (data[at] !== (this.remaining === 2 ? 13 : 10)) this.invalid = 'a chunk is not followed by CRLF';
        at++;
        if (--this.remaining === 0) this.state = State.Size;
      } else {
        at = this.readLine(data, at);
      }
    }
    return this.invalid === null && at < data.length ? data.subarray(at) : null;
  }

  override _read(): void {
    this.onPull();
  }

  private dataDone(): void {
    if (this.chunked) {
      this.state = State.DataEnd;
      this.remaining = 2;
      return;
    }
    this.state = State.Done;
    this.push(null);
  }

  /** Reads (part of) a chunk-size or trailer line from `at`; returns where reading stopped. */
  private readLine(data: Buffer, at: number): number {
    const lf = data.indexOf(10, at);
    const end = lf < 0 ? data.length : lf;
    this.line += data.toString('latin1', at, end);
    if (this.state === State.Trailers) this.trailerBytes += end - at;
    if (this.line.length > MAX_LINE_BYTES || this.trailerBytes > MAX_TRAILER_BYTES) {
      this.invalid = 'a chunk-size or trailer line is too long';
      return data.length;
    }
    if (lf < 0) return data.length;
    const line = this.line;
    this.line = '';
    if (line.charCodeAt(line.length - 1) !== 13) {
      this.invalid = 'a line of the chunked body does not end with CRLF';
    } else if (this.state === State.Size) {
      this.sizeLine(line.slice(0, -1));
    } else if (line.length === 1) {
      this.state = State.Done;
      this.push(null);
    } else if (!isFieldLine(line)) {
      this.invalid = 'malformed trailer field';
    }
    return lf + 1;
  }

  private sizeLine(line: string): void {
    const size = chunkSizeOf(line);
    if (size === undefined) {
      this.invalid = `bad chunk-size line ${JSON.stringify(line.slice(0, 40))}`;
      return;
    }
    if (size === 0) {
      this.state = State.Trailers;
      return;
    }
    this.remaining = size;
    this.state = State.Data;
  }
}

/** Whether a trailer line (its CR included) is a field: a token name, a colon, no control character after. */
function isFieldLine(line: string): boolean {
  const colon = line.indexOf(':');
  return colon > 0 && isToken(line.slice(0, colon)) && !hasControlCharacter(line, colon + 1, line.length - 1);
}
