// A caller on a raw TCP socket: sends bytes as written and collects everything it gets until the
// connection closes, noting whether it closed with a reset (the tests of framing and cut answers).
import { connect } from 'node:net';

export interface RawExchange {
  /** Everything received, latin1. */
  readonly got: string;
  /** The connection ended with a TCP reset (ECONNRESET), not a FIN. */
  readonly reset: boolean;
}

/**
 * Whether the far end reset the connection is asked of the kernel, not of libuv's read: when the last
 * bytes and the RST arrive in one wakeup, libuv reads the bytes, sees the hang-up and reports a clean end
 * without the read that would have returned ECONNRESET (curl and Python see the reset). So after an end,
 * one write probes the socket: a reset one refuses it (EPIPE or ECONNRESET), one that got a FIN still
 * takes it, being only half closed.
 */
export async function rawExchange(port: number, host: string, request: string): Promise<RawExchange> {
  const socket = connect({ port, host, allowHalfOpen: true });
  let reset = false;
  let probed = false;
  socket.on('error', (err: NodeJS.ErrnoException) => {
    if (!probed) reset = err.code === 'ECONNRESET' || err.code === 'EPIPE';
  });
  socket.write(request);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('end', () => {
    socket.write('\r\n', (err) => {
      if (err) reset = true;
      probed = true;
      socket.destroy();
    });
  });
  await new Promise((resolve) => socket.once('close', resolve));
  return { got: Buffer.concat(chunks).toString('latin1'), reset };
}
