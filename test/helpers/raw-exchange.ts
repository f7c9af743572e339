// A caller on a raw TCP socket: sends bytes as written and collects everything it gets until the
// connection closes, noting whether it closed with a reset (the tests of framing and cut answers).
import { connect } from 'node:net';

export interface RawExchange {
  /** Everything received, latin1. */
  readonly got: string;
  /** The connection ended with a TCP reset (ECONNRESET), not a FIN. */
  readonly reset: boolean;
}

export async function rawExchange(port: number, host: string, request: string): Promise<RawExchange> {
  const socket = connect(port, host);
  let reset = false;
  socket.on('error', (err: NodeJS.ErrnoException) => (reset = err.code === 'ECONNRESET'));
  socket.write(request);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await new Promise((resolve) => socket.once('close', resolve));
  return { got: Buffer.concat(chunks).toString('latin1'), reset };
}
