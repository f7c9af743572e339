// Upstream services for the data-plane suites, each on an ephemeral port of a given loopback address:
// an HTTP/1.1 server (echo, streamed bodies, chunked, slow answers, WebSocket echo), a TCP echo that
// honours half-close, and a gRPC Echo service (unary, bidi streaming, a failing call with trailers).
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { WebSocketServer } from 'ws';

export const ECHO_PROTO = fileURLToPath(new URL('./dataplane-echo.proto', import.meta.url));

export interface SampleServer {
  readonly host: string;
  readonly port: number;
  /** `host:port` as a config endpoint. */
  readonly endpoint: string;
  close(): Promise<void>;
}

export interface HttpUpstream extends SampleServer {
  /** Requests seen: method, url and lower-cased headers. */
  readonly seen: { method: string; url: string; headers: IncomingMessage['headers'] }[];
}

/** Deterministic bytes: byte i is (i * 31 + 7) mod 251. */
export function patternBytes(length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + 7) % 251;
  return out;
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Routes: GET /whoami → JSON {servedBy, sourceCluster, headers}; POST /echo → the body back (streamed);
 * POST /digest → {bytes, sha256} of the body; GET /bytes?n=N → N pattern bytes with content-length;
 * GET /chunked?n=N → N pattern bytes in 1000-byte chunks without content-length; GET /slow?ms=M →
 * answers after M ms; anything else 404. WebSocket upgrades echo every message with a prefix.
 */
export async function startHttpUpstream(host: string, servedBy: string): Promise<HttpUpstream> {
  const seen: HttpUpstream['seen'] = [];
  const server: Server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    handle(req, res, servedBy);
  });
  server.keepAliveTimeout = 5_000;
  // Every field a request carries (Node keeps only the first 1000 by default).
  server.maxHeadersCount = 0;
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws, req) => {
    const source = String(req.headers['weft-source-cluster'] ?? '-');
    ws.on('message', (data: Buffer, isBinary) => {
      if (isBinary) ws.send(data, { binary: true });
      else ws.send(`${servedBy}:${source}:${data.toString()}`);
    });
  });
  server.listen(0, host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    host,
    port,
    endpoint: `${host}:${port}`,
    seen,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function handle(req: IncomingMessage, res: ServerResponse, servedBy: string): void {
  const url = new URL(req.url ?? '/', 'http://upstream');
  const n = Number(url.searchParams.get('n') ?? '0');
  // HEAD is answered like GET; Node's server leaves the body out.
  switch (`${req.method === 'HEAD' ? 'GET' : req.method} ${url.pathname}`) {
    case 'GET /whoami': {
      req.resume();
      const body = JSON.stringify({
        servedBy,
        sourceCluster: req.headers['weft-source-cluster'] ?? null,
        headers: req.headers,
      });
      res.writeHead(200, { 'content-type': 'application/json', 'x-served-by': servedBy });
      res.end(body);
      return;
    }
    case 'POST /echo':
    case 'PUT /echo':
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-served-by': servedBy });
      req.pipe(res);
      return;
    case 'POST /digest': {
      const hash = createHash('sha256');
      let bytes = 0;
      req.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        hash.update(chunk);
      });
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json', 'x-served-by': servedBy });
        res.end(JSON.stringify({ bytes, sha256: hash.digest('hex') }));
      });
      return;
    }
    case 'GET /bytes': {
      req.resume();
      const body = patternBytes(n);
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': body.length,
        'x-served-by': servedBy,
      });
      res.end(body);
      return;
    }
    case 'GET /chunked': {
      req.resume();
      const body = patternBytes(n);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-served-by': servedBy });
      for (let at = 0; at < body.length; at += 1000) res.write(body.subarray(at, at + 1000));
      res.addTrailers({ 'x-body-sha256': sha256(body) });
      res.end();
      return;
    }
    case 'GET /slow': {
      req.resume();
      const ms = Number(url.searchParams.get('ms') ?? '100');
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'text/plain', 'x-served-by': servedBy });
        res.end(`slow ${ms}`);
      }, ms);
      return;
    }
    default:
      req.resume();
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('no such route\n');
  }
}

/** Echoes every byte; when the client half-closes, finishes echoing and then closes its side. */
export async function startTcpEcho(host: string): Promise<SampleServer & { connections: () => number }> {
  let connections = 0;
  const server: NetServer = createNetServer({ allowHalfOpen: true }, (socket) => {
    connections++;
    socket.pipe(socket);
    socket.on('error', () => socket.destroy());
  });
  server.listen(0, host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    host,
    port,
    endpoint: `${host}:${port}`,
    connections: () => connections,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface EchoRequest {
  text: string;
}
export interface EchoReply {
  text: string;
  servedBy: string;
  sourceCluster: string;
}
type EchoCallback = (err: grpc.ServiceError | null, reply?: EchoReply) => void;

/** A client of weft.test.Echo, made from echoClientConstructor(). */
export type EchoClient = grpc.Client & {
  Unary(request: EchoRequest, callback: EchoCallback): grpc.ClientUnaryCall;
  Unary(request: EchoRequest, metadata: grpc.Metadata, callback: EchoCallback): grpc.ClientUnaryCall;
  Fail(request: EchoRequest, callback: EchoCallback): grpc.ClientUnaryCall;
  Chat(): grpc.ClientDuplexStream<EchoRequest, EchoReply>;
};

type ServiceCtor = typeof grpc.Client & { service: grpc.ServiceDefinition };

export function echoClientConstructor(): ServiceCtor {
  const definition = protoLoader.loadSync(ECHO_PROTO, { keepCase: true, defaults: true });
  const loaded = grpc.loadPackageDefinition(definition);
  return ((loaded.weft as grpc.GrpcObject).test as grpc.GrpcObject).Echo as ServiceCtor;
}

/**
 * weft.test.Echo: Unary echoes, Chat echoes each message, Fail answers FAILED_PRECONDITION with a message and
 * trailer. `options` are grpc-js server options (e.g. 'grpc.max_concurrent_streams').
 */
export async function startGrpcUpstream(
  host: string,
  servedBy: string,
  options: grpc.ServerOptions = {},
): Promise<SampleServer> {
  const server = new grpc.Server(options);
  const Echo = echoClientConstructor();
  const source = (metadata: grpc.Metadata) => String(metadata.get('weft-source-cluster')[0] ?? '');
  server.addService(Echo.service, {
    Unary: (call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, done: grpc.sendUnaryData<EchoReply>) => {
      const trailer = new grpc.Metadata();
      trailer.set('x-served-by', servedBy);
      done(null, { text: call.request.text, servedBy, sourceCluster: source(call.metadata) }, trailer);
    },
    Chat: (call: grpc.ServerDuplexStream<EchoRequest, EchoReply>) => {
      call.on('data', (request: EchoRequest) =>
        call.write({ text: request.text, servedBy, sourceCluster: source(call.metadata) }),
      );
      call.on('end', () => call.end());
    },
    Fail: (_call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, done: grpc.sendUnaryData<EchoReply>) => {
      const metadata = new grpc.Metadata();
      metadata.set('x-failure-detail', 'on purpose');
      done({ code: grpc.status.FAILED_PRECONDITION, details: `refused by ${servedBy}`, metadata });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:0`, grpc.ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    ),
  );
  return {
    host,
    port,
    endpoint: `${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };
}

/**
 * An HTTP endpoint for long-lived calls: `/watch` answers the head and one server-sent event and stays
 * open (its response joins `held`, for the test to end); anything else is answered `pong`.
 */
export function eventStreamEndpoint(held: ServerResponse[]): Server {
  return createServer((req, res) => {
    if (req.url !== '/watch') {
      res.end('pong');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: first\n\n');
    held.push(res);
  });
}
