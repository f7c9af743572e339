// Calls through a gateway's outbound listener as an app would make them: HTTP/1.1 with a Host name, gRPC
// with an authority, raw TCP through a bound port. Used by the demo's smoke run and by tests.
import { request } from 'node:http';
import { connect } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { greeterClientConstructor } from './workloads/greeter-grpc.js';

export interface HttpReply {
  readonly status: number;
  readonly body: string;
}

export function httpGet(outbound: string, host: string, path = '/', timeoutMs = 3000): Promise<HttpReply> {
  const [address, port] = splitAddress(outbound);
  return new Promise((resolveReply, reject) => {
    const req = request(
      { host: address, port, path, headers: { host }, agent: false, timeout: timeoutMs },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolveReply({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

interface GreeterClient extends grpc.Client {
  SayHello(
    request: { name: string },
    options: grpc.CallOptions,
    callback: (err: grpc.ServiceError | null, reply: { message: string; cluster: string }) => void,
  ): void;
  Chat(
    options: grpc.CallOptions,
  ): grpc.ClientDuplexStream<{ name: string }, { message: string; cluster: string }>;
}

export function greeterClient(outbound: string, authority: string): GreeterClient {
  const Greeter = greeterClientConstructor();
  return new Greeter(outbound, grpc.credentials.createInsecure(), {
    'grpc.default_authority': authority,
  }) as unknown as GreeterClient;
}

export function sayHello(
  client: GreeterClient,
  name: string,
  timeoutMs = 3000,
): Promise<{ message: string; cluster: string }> {
  return new Promise((resolveReply, reject) => {
    client.SayHello({ name }, { deadline: Date.now() + timeoutMs }, (err, reply) =>
      err ? reject(err) : resolveReply(reply),
    );
  });
}

/** Sends `names` on one bidirectional stream and collects every reply. */
export function chat(client: GreeterClient, names: readonly string[], timeoutMs = 3000): Promise<string[]> {
  return new Promise((resolveReplies, reject) => {
    const replies: string[] = [];
    const call = client.Chat({ deadline: Date.now() + timeoutMs });
    call.on('data', (reply: { message: string }) => replies.push(reply.message));
    call.on('end', () => resolveReplies(replies));
    call.on('error', reject);
    for (const name of names) call.write({ name });
    call.end();
  });
}

/** Sends `payload`, half-closes, and returns every byte that came back. */
export function tcpRoundTrip(host: string, port: number, payload: Buffer, timeoutMs = 5000): Promise<Buffer> {
  return new Promise((resolveBytes, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host, port, allowHalfOpen: true });
    const timer = setTimeout(
      () => socket.destroy(new Error(`echo incomplete after ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => {
      clearTimeout(timer);
      socket.end();
      resolveBytes(Buffer.concat(chunks));
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.end(payload);
  });
}

function splitAddress(address: string): [string, number] {
  const colon = address.lastIndexOf(':');
  return [address.slice(0, colon).replace(/^\[|\]$/g, ''), Number(address.slice(colon + 1))];
}
