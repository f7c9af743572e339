// A minimal HTTP/1.1 client for the data-plane suites (node:http): status, headers, raw body bytes and
// trailers, with an optional body that may be streamed and an Expect: 100-continue handshake.
import { request, type Agent, type IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';

export interface HttpAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly trailers: NodeJS.Dict<string>;
  /** True when the server answered 100 Continue before the final answer. */
  readonly continued: boolean;
}

export interface HttpCallOptions {
  readonly method?: string;
  readonly headers?: Record<string, string | number | string[]>;
  readonly body?: Buffer | Readable;
  readonly agent?: Agent | false;
  /** Send the body only after 100 Continue. */
  readonly expectContinue?: boolean;
}

export function httpCall(url: string, options: HttpCallOptions = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    let continued = false;
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        headers: { ...(options.expectContinue ? { expect: '100-continue' } : {}), ...options.headers },
        agent: options.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
            trailers: res.trailers,
            continued,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    const send = () => {
      const body = options.body;
      if (!body) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else body.pipe(req);
    };
    if (options.expectContinue) {
      req.on('continue', () => {
        continued = true;
        send();
      });
      req.flushHeaders();
    } else {
      send();
    }
  });
}
