// Raw HTTP/2 frames for tests that play a peer no library would: one that says hello and then freezes,
// or opens windows and stops reading.

/** Frame types (RFC 9113 §6) and the ACK flag of SETTINGS and PING. */
export const FRAME = { HEADERS: 0x1, SETTINGS: 0x4, PING: 0x6, GOAWAY: 0x7, WINDOW_UPDATE: 0x8 } as const;
export const ACK_FLAG = 0x1;

/** An HTTP/2 frame (RFC 9113 §4.1). */
export function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head.writeUInt8(type, 3);
  head.writeUInt8(flags, 4);
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

export interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** The whole frames in bytes a server sent (a partial frame at the end is left out). */
export function readFrames(bytes: Buffer): Frame[] {
  const frames: Frame[] = [];
  for (let at = 0; at + 9 <= bytes.length;) {
    const end = at + 9 + bytes.readUIntBE(at, 3);
    if (end > bytes.length) break;
    frames.push({
      type: bytes.readUInt8(at + 3),
      flags: bytes.readUInt8(at + 4),
      streamId: bytes.readUInt32BE(at + 5),
      payload: bytes.subarray(at + 9, end),
    });
    at = end;
  }
  return frames;
}

/** The value a SETTINGS frame's payload gives the setting `id` (RFC 9113 §6.5.1), if any. */
export function settingValue(payload: Buffer, id: number): number | undefined {
  let value: number | undefined;
  for (let at = 0; at + 6 <= payload.length; at += 6)
    if (payload.readUInt16BE(at) === id) value = payload.readUInt32BE(at + 2);
  return value;
}

/** The client connection preface and an empty SETTINGS frame (RFC 9113 §3.4). */
export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const H2_PREFACE = Buffer.concat([CLIENT_PREFACE, frame(FRAME.SETTINGS, 0, 0, Buffer.alloc(0))]);

/** SETTINGS_INITIAL_WINDOW_SIZE and a connection WINDOW_UPDATE of 16 MiB: the other side may send that much. */
export const BIG_WINDOWS = Buffer.concat([
  frame(FRAME.SETTINGS, 0, 0, Buffer.from([0, 4, 1, 0, 0, 0])),
  frame(FRAME.WINDOW_UPDATE, 0, 0, Buffer.from([1, 0, 0, 0])),
]);

/** `GET /` on stream 1 (HPACK: :method GET, :scheme https, :path /, :authority x), ending the stream. */
export const GET_ON_STREAM_1 = frame(
  FRAME.HEADERS,
  0x5,
  1,
  Buffer.from([0x82, 0x87, 0x84, 0x41, 0x01, 0x78]),
);

/**
 * A header block of literal fields without indexing (HPACK §6.2.2, no Huffman coding), names and values
 * under 127 bytes: lets a test send what Node's client refuses, such as a field repeated.
 */
export function literalHeaderBlock(fields: readonly (readonly [string, string])[]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    parts.push(Buffer.from([0x00, name.length]), Buffer.from(name, 'latin1'));
    parts.push(Buffer.from([value.length]), Buffer.from(value, 'latin1'));
  }
  return Buffer.concat(parts);
}
