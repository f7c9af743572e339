// Writes `before` (latin1 framing: a head, a chunk-size line), a body chunk, and `after` (latin1, e.g.
// the CRLF closing a chunk) to a byte stream. A small chunk is copied with its framing into one buffer,
// one write: cheaper than corking three writes into a writev, and on a lane one DATA frame instead of a
// mix of string and buffer writes. A large chunk is corked and written in place (no copy).
import type { ByteStream } from './exchange.js';

/** Chunks up to this size leave in one buffer with their framing. */
const COPY_LIMIT_BYTES = 16 * 1024;

/** Returns what the last write returned (false: wait for 'drain'). */
export function writeFramed(stream: ByteStream, before: string, chunk: Buffer, after: string): boolean {
  if (before === '' && after === '') return stream.write(chunk);
  if (chunk.length > COPY_LIMIT_BYTES) {
    stream.cork();
    stream.write(before, 'latin1');
    let ok = stream.write(chunk);
    if (after !== '') ok = stream.write(after, 'latin1');
    stream.uncork();
    return ok;
  }
  const out = Buffer.allocUnsafe(before.length + chunk.length + after.length);
  out.write(before, 0, 'latin1');
  chunk.copy(out, before.length);
  if (after !== '') out.write(after, before.length + chunk.length, 'latin1');
  return stream.write(out);
}
