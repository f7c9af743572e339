// Property tests of the HTTP/1.1 parsers on the data path, over seeded random messages: a valid message
// read in pieces cut anywhere gives what it gives read whole, and a mutated one (a control character,
// colon, space or obs-text byte put in, a byte dropped, the message cut short) is refused or read with
// clean fields — never with an exception. Each failure names its case seed; PARSER_CASES=N runs more.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FastRequestBody } from '../gateway/listeners/fast-request-body.js';
import { parseSimpleHead } from '../gateway/listeners/simple-request-head.js';
import { H1ResponseParser } from '../gateway/upstream/h1-response-parser.js';
import type { HeaderMap } from '../gateway/upstream/exchange.js';
import { mutate, random, type Random } from './helpers/mutations.js';

const CASES = Number(process.env.PARSER_CASES ?? 5000);

/** `data` cut at 1–8 random places (pieces of one byte included). */
function pieces(rng: Random, data: Buffer): Buffer[] {
  const cuts = new Set<number>();
  const count = 1 + rng.int(8);
  for (let i = 0; i < count; i++) cuts.add(1 + rng.int(Math.max(1, data.length - 1)));
  const sorted = [...cuts].filter((c) => c < data.length).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const cut of sorted) {
    out.push(data.subarray(from, cut));
    from = cut;
  }
  out.push(data.subarray(from));
  return out;
}

const NAMES = [
  'Server',
  'Date',
  'Content-Type',
  'ETag',
  'Cache-Control',
  'X-Request-Id',
  'Vary',
  'Accept-Ranges',
];
const TOKEN_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~!#$%&*+^`|';
const VALUE_CHARS = `${TOKEN_CHARS} /:;,="()?@[]{}\t`;

function text(rng: Random, chars: string, min: number, max: number): string {
  const n = min + rng.int(max - min + 1);
  return Array.from({ length: n }, () => chars[rng.int(chars.length)]).join('');
}

function randomCase(rng: Random, name: string): string {
  return [...name].map((c) => (rng.chance(0.3) ? c.toUpperCase() : c.toLowerCase())).join('');
}

/** Header lines of a message: common fields, repeats (Set-Cookie, Content-Language) and odd spacing. */
function fieldLines(rng: Random): string[] {
  const lines: string[] = [];
  const count = rng.int(8);
  for (let i = 0; i < count; i++) {
    const name = rng.chance(0.8) ? rng.pick(NAMES) : `X-${text(rng, TOKEN_CHARS, 1, 12)}`;
    const space = rng.pick(['', ' ', '  ', '\t']);
    const trail = rng.pick(['', '', ' ', '\t ']);
    lines.push(`${randomCase(rng, name)}:${space}${text(rng, VALUE_CHARS, 0, 30).trim()}${trail}`);
  }
  for (let i = rng.int(3); i > 0; i--) lines.push(`Set-Cookie: c${i}=${text(rng, TOKEN_CHARS, 1, 10)}`);
  for (let i = rng.int(3); i > 0; i--) lines.push(`Content-Language: ${rng.pick(['en', 'de', 'fr-CA'])}`);
  return lines;
}

/** A chunked coding of `body`: random chunk sizes, hex case, extensions and trailers. */
function chunked(rng: Random, body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  while (at < body.length) {
    const size = Math.min(body.length - at, 1 + rng.int(700));
    const hex = size.toString(16);
    const ext = rng.pick(['', '', ';a=b', ' ;x', ';name="v"']);
    parts.push(Buffer.from(`${rng.chance(0.5) ? hex.toUpperCase() : hex}${ext}\r\n`, 'latin1'));
    parts.push(body.subarray(at, at + size), Buffer.from('\r\n'));
    at += size;
  }
  const trailers = Array.from(
    { length: rng.int(3) },
    () => `${rng.pick(NAMES)}: ${text(rng, TOKEN_CHARS, 1, 8)}\r\n`,
  );
  parts.push(Buffer.from(`0${rng.pick(['', ';last'])}\r\n${trailers.join('')}\r\n`, 'latin1'));
  return Buffer.concat(parts);
}

interface ResponseCase {
  readonly message: Buffer;
  readonly headRequest: boolean;
  /** The body ends when the connection does (no Content-Length, not chunked). */
  readonly untilClose: boolean;
}

function responseCase(rng: Random): ResponseCase {
  const status = rng.pick([200, 200, 201, 204, 301, 304, 404, 500, 503]);
  const headRequest = rng.chance(0.1);
  const bodiless = status === 204 || status === 304;
  const body = bodiless ? Buffer.alloc(0) : rng.bytes(rng.chance(0.2) ? 0 : rng.int(3000));
  const framing = bodiless ? 'length' : rng.pick(['length', 'chunked', 'chunked', 'close']);
  const lines = [
    `HTTP/1.${rng.chance(0.9) ? 1 : 0} ${status} ${rng.pick(['OK', 'Whatever', ''])}`,
    ...fieldLines(rng),
  ];
  if (framing === 'length' && !bodiless) lines.push(`Content-Length: ${body.length}`);
  if (framing === 'chunked') lines.push(`Transfer-Encoding: ${rng.pick(['chunked', 'Chunked', ' chunked'])}`);
  if (rng.chance(0.2)) lines.push(`Connection: ${rng.pick(['close', 'keep-alive', 'x-hop, close'])}`);
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  const sent = headRequest || bodiless ? Buffer.alloc(0) : framing === 'chunked' ? chunked(rng, body) : body;
  return {
    message: Buffer.concat([head, sent]),
    headRequest,
    untilClose: framing === 'close' && !headRequest,
  };
}

/** What a response parser reported, with body pieces joined: the same for any split of its input. */
function readResponse(c: ResponseCase, input: readonly Buffer[]): string {
  const log: string[] = [];
  const body: Buffer[] = [];
  const flushBody = () => {
    if (body.length > 0) log.push(`body ${Buffer.concat(body).toString('hex')}`);
    body.length = 0;
  };
  const parser = new H1ResponseParser({
    onResponseHead: (status: number, headers: HeaderMap, upgrade: boolean, isChunked: boolean) => {
      checkFields(headers);
      log.push(`head ${status} ${JSON.stringify(headers)} ${upgrade} ${isChunked}`);
    },
    onResponseBody: (chunk: Buffer) => body.push(Buffer.from(chunk)),
    onResponseComplete: (trailers: HeaderMap | null, keepAlive: boolean) => {
      if (trailers) checkFields(trailers);
      flushBody();
      log.push(`complete ${JSON.stringify(trailers)} ${keepAlive}`);
    },
  });
  parser.start(c.headRequest);
  for (const piece of input) {
    const outcome = parser.execute(piece);
    if (outcome instanceof Error) {
      flushBody();
      log.push(`error ${outcome.message}`);
      return log.join('\n');
    }
  }
  const end = c.untilClose ? parser.finish() : undefined;
  flushBody();
  if (end) log.push(`error ${end.message}`);
  return log.join('\n');
}

/** A control character other than HTAB (CR, LF, NUL, DEL…). */
function hasControl(value: string): boolean {
  return [...value].some((ch) => {
    const code = ch.charCodeAt(0);
    return (code < 0x20 && code !== 0x09) || code === 0x7f;
  });
}

/** Field names are lower-case tokens, values hold no CR, LF, NUL or other control but HTAB. */
function checkFields(headers: HeaderMap): void {
  for (const [name, value] of Object.entries(headers)) {
    if (!name.startsWith(':'))
      assert.match(name, /^[!#$%&'*+\-.^_`|~0-9a-z]+$/, `field name ${JSON.stringify(name)}`);
    for (const v of Array.isArray(value) ? value : [value ?? '']) {
      assert.ok(!hasControl(v), `value of ${name}: ${JSON.stringify(v)}`);
    }
  }
}

test('response parser: a valid response read in any pieces reads as it does whole', () => {
  for (let seed = 1; seed <= CASES; seed++) {
    const rng = random(seed);
    const c = responseCase(rng);
    const whole = readResponse(c, [c.message]);
    assert.doesNotMatch(whole, /^error/m, `case ${seed}: a valid response is refused:\n${whole}`);
    assert.match(whole, /^complete /m, `case ${seed}: the response never completes`);
    for (let split = 0; split < 4; split++) {
      assert.equal(readResponse(c, pieces(rng, c.message)), whole, `case ${seed}, split ${split}`);
    }
  }
});

test('response parser: a mutated response is refused or read with clean fields, in any pieces alike', () => {
  for (let seed = 1; seed <= CASES; seed++) {
    const rng = random(seed + 1_000_000);
    const c = responseCase(rng);
    const headLength = c.message.indexOf('\r\n\r\n') + 4;
    const mutant = { ...c, message: mutate(rng, c.message, rng.chance(0.8) ? headLength : c.message.length) };
    const whole = readResponse(mutant, [mutant.message]);
    assert.equal(readResponse(mutant, pieces(rng, mutant.message)), whole, `case ${seed}`);
  }
});

interface BodyCase {
  readonly framed: Buffer;
  readonly body: Buffer;
  /** What follows the body on the connection (the next request). */
  readonly after: Buffer;
}

function bodyCase(rng: Random): BodyCase {
  const body = rng.bytes(1 + rng.int(3000));
  const after = rng.chance(0.5) ? Buffer.from('GET /next HTTP/1.1\r\nHost: x\r\n\r\n') : Buffer.alloc(0);
  return { framed: Buffer.concat([chunked(rng, body), after]), body, after };
}

/** Feeds a chunked request body in pieces: its bytes, whether it completed or why not, what followed. */
function readBody(input: readonly Buffer[]): {
  data: string;
  complete: boolean;
  invalid: string | null;
  rest: string;
} {
  const body = new FastRequestBody(-1, () => undefined);
  const rest: Buffer[] = [];
  for (const [i, piece] of input.entries()) {
    if (body.complete || body.invalid !== null) {
      rest.push(...input.slice(i));
      break;
    }
    const after = body.feed(piece);
    if (after) rest.push(after);
  }
  const chunks: Buffer[] = [];
  for (let chunk: Buffer | null; (chunk = body.read() as Buffer | null) !== null;) chunks.push(chunk);
  return {
    data: Buffer.concat(chunks).toString('hex'),
    complete: body.complete,
    invalid: body.invalid,
    rest: body.invalid === null ? Buffer.concat(rest).toString('hex') : '',
  };
}

test('chunked request body: read in any pieces, the same bytes, the same end and the same bytes after it', () => {
  for (let seed = 1; seed <= CASES; seed++) {
    const rng = random(seed + 2_000_000);
    const c = bodyCase(rng);
    const whole = readBody([c.framed]);
    assert.deepEqual(
      whole,
      { data: c.body.toString('hex'), complete: true, invalid: null, rest: c.after.toString('hex') },
      `case ${seed}`,
    );
    for (let split = 0; split < 4; split++) {
      assert.deepEqual(readBody(pieces(rng, c.framed)), whole, `case ${seed}, split ${split}`);
    }
  }
});

test('chunked request body: a mutated one is refused or read, in any pieces alike, never with an exception', () => {
  for (let seed = 1; seed <= CASES; seed++) {
    const rng = random(seed + 3_000_000);
    const c = bodyCase(rng);
    const mutant = mutate(rng, c.framed);
    const whole = readBody([mutant]);
    assert.deepEqual(readBody(pieces(rng, mutant)), whole, `case ${seed}`);
  }
});

test('request head: a mutated head is refused or read with clean fields, never with an exception', () => {
  for (let seed = 1; seed <= CASES; seed++) {
    const rng = random(seed + 4_000_000);
    const method = rng.pick(['GET', 'GET', 'HEAD', 'DELETE', 'POST', 'PUT']);
    const lines = [
      `${method} /${text(rng, TOKEN_CHARS, 0, 20)} HTTP/1.1`,
      `Host: ${rng.pick(['hello.default', 'hello.default.svc.aws-use1.weft', 'api.example:8080'])}`,
      ...fieldLines(rng),
    ];
    if (method === 'POST' || method === 'PUT')
      lines.push(rng.chance(0.5) ? 'Content-Length: 12' : 'Transfer-Encoding: chunked');
    const head = Buffer.from(lines.join('\r\n'), 'latin1');
    const mutant = mutate(rng, head).toString('latin1');
    const parsed = parseSimpleHead(mutant, rng.chance(0.5));
    if (!parsed) continue;
    checkFields(parsed.headers);
    assert.match(parsed.method, /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, `case ${seed}: method`);
    assert.match(parsed.path, /^\/[\x21-\x7e]*$/, `case ${seed}: path`);
    assert.ok(!hasControl(parsed.authority), `case ${seed}: authority ${JSON.stringify(parsed.authority)}`);
  }
});
