// A stand-in peer gateway in its own process, so tests can SIGSTOP / SIGCONT / SIGKILL it: an HTTP/2
// server over mutual TLS 1.3 with one cluster's gateway certificate. Prints {"port":N} on stdout when
// listening. Env: WEFT_HOST, WEFT_CA, WEFT_CERT, WEFT_KEY.
import { readFileSync } from 'node:fs';
import { createSecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const server = createSecureServer({
  ca: readFileSync(env('WEFT_CA')),
  cert: readFileSync(env('WEFT_CERT')),
  key: readFileSync(env('WEFT_KEY')),
  requestCert: true,
  rejectUnauthorized: true,
  minVersion: 'TLSv1.3',
});
server.on('stream', (stream) => {
  stream.respond({ ':status': 200 });
  stream.end('ok');
});
server.on('sessionError', () => undefined);
server.listen(0, env('WEFT_HOST'), () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
