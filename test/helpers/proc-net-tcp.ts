// The IPv4 TCP sockets of this network namespace as /proc/net/tcp lists them: enough to see which
// connections run a keep-alive timer.
import { readFile } from 'node:fs/promises';

export interface TcpSocketRow {
  readonly localPort: number;
  readonly remotePort: number;
  readonly state: number;
  /** /proc/net/tcp `tr`: 0 no timer, 1 retransmit, 2 keep-alive, … */
  readonly timer: number;
  /** The socket's inode: 0 once no process holds it (closed, the kernel finishing the connection alone). */
  readonly inode: number;
  readonly line: string;
}

export const ESTABLISHED = 0x01;
export const KEEPALIVE_TIMER = 2;

/** The IPv4 TCP sockets of this network namespace (/proc/net/tcp; the tests use 127.x addresses). */
export async function tcpSockets(): Promise<TcpSocketRow[]> {
  const text = await readFile('/proc/net/tcp', 'utf8');
  return text
    .split('\n')
    .slice(1)
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [, local = '', remote = '', state = '', , timers = '', , , , inode = ''] = line
        .trim()
        .split(/\s+/);
      return {
        localPort: parseInt(local.split(':')[1] ?? '', 16),
        remotePort: parseInt(remote.split(':')[1] ?? '', 16),
        state: parseInt(state, 16),
        timer: parseInt(timers.split(':')[0] ?? '', 16),
        inode: Number(inode),
        line: line.trim(),
      };
    });
}
