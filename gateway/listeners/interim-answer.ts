// An upstream's interim answer (102 Processing, 103 Early Hints, …) as an HTTP/1.1 caller reads it. A
// proxy passes 1xx answers on (RFC 9110 §15.2), except to an HTTP/1.0 caller, which has none.
import type { HeaderMap } from '../upstream/exchange.js';
import { isHopByHop } from '../routing/proxy-headers.js';

const INTERIM_REASONS: Readonly<Record<number, string>> = {
  102: 'Processing',
  103: 'Early Hints',
};

/** The 1xx head: status line and field lines (a repeated field as one line each), then the blank line. */
export function interimHead(status: number, headers: HeaderMap): string {
  let head = `HTTP/1.1 ${status} ${INTERIM_REASONS[status] ?? 'Informational'}\r\n`;
  for (const name in headers) {
    // Never a Content-Length on a 1xx (RFC 9110 §8.6): a lenient caller would read a body into the answer.
    if (name.charCodeAt(0) === 58 /* ':' */ || isHopByHop(name) || name === 'content-length') continue;
    const value = headers[name];
    if (typeof value === 'string') head += `${name}: ${value}\r\n`;
    else if (value) for (const item of value) head += `${name}: ${item}\r\n`;
  }
  return `${head}\r\n`;
}
