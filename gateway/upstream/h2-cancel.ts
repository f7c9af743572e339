// Cancelling an HTTP/2 stream the way gRPC and RFC 9113 mean it: RST_STREAM with CANCEL, and nothing
// before it. Node offers no direct call: destroy(err) resets with INTERNAL_ERROR (a gRPC endpoint reads
// INTERNAL, not CANCELLED), destroy() with NO_ERROR (a finished stream's code), and close(CANCEL) ends the
// writable side with END_STREAM first (a request body cut short would read as a whole one). A stream
// destroyed with an AbortError is reset with CANCEL alone.
import type { Http2Stream } from 'node:http2';
import { addAbortSignal, type Duplex } from 'node:stream';

/** Resets `stream` with RST_STREAM CANCEL; Node reports it back as the stream's 'error' (AbortError). */
export function cancelStream(stream: Http2Stream & Duplex): void {
  addAbortSignal(AbortSignal.abort(), stream);
}
