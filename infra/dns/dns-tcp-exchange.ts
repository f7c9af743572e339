// One DNS request/response over TCP (RFC 1035 §4.2.2 length-prefixed framing): connect, send, read one
// message, close. TCP rather than UDP so updates of any size fit and nothing needs retransmission logic.
import { connect } from 'node:net';
import { InfraError } from '../errors.js';
import { formatHostPort } from '../ip-address.js';

export interface DnsServerAddress {
  readonly host: string;
  readonly port: number;
}

export function exchangeTcp(
  server: DnsServerAddress,
  message: Buffer,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const where = formatHostPort(server);
    if (signal?.aborted) {
      reject(new InfraError('DNS_PROVIDER', `DNS request to ${where} aborted`, { cause: signal.reason }));
      return;
    }
    const socket = connect({ host: server.host, port: server.port });
    let buffered = Buffer.alloc(0);
    let settled = false;
    const finish = (err: Error | undefined, response?: Buffer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (err) reject(err);
      else resolve(response ?? Buffer.alloc(0));
    };
    const onAbort = () =>
      finish(new InfraError('DNS_PROVIDER', `DNS request to ${where} aborted`, { cause: signal?.reason }));
    const timer = setTimeout(
      () =>
        finish(new InfraError('DNS_PROVIDER', `DNS server ${where} did not answer within ${timeoutMs}ms`)),
      timeoutMs,
    );
    timer.unref();
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('connect', () => {
      const length = Buffer.alloc(2);
      length.writeUInt16BE(message.length, 0);
      socket.write(Buffer.concat([length, message]));
    });
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        finish(undefined, buffered.subarray(2, 2 + buffered.readUInt16BE(0)));
      }
    });
    socket.on('error', (err) =>
      finish(new InfraError('DNS_PROVIDER', `DNS server ${where}: ${err.message}`, { cause: err })),
    );
    socket.on('close', () =>
      finish(new InfraError('DNS_PROVIDER', `DNS server ${where} closed the connection without an answer`)),
    );
  });
}
