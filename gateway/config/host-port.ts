// "host:port" and "[v6]:port" addresses as they appear in config files and discovery records.
import { canonicalIp, formatHostPort } from '../../infra/index.js';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

const BRACKETED = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/;
const PLAIN = /^([A-Za-z0-9.-]+):(\d{1,5})$/;

/**
 * Parses "127.0.0.1:4140", "gw.example.com:4143" or "[::1]:4140"; undefined when malformed, or when a
 * URL (as node:http2 reads an authority) would read the host otherwise: "[1:2]", "999.1.1.1", "1.2.3".
 * An IPv6 host comes back canonical (see ip-address.ts): "[0:0::1]:4140" and "[::1]:4140" are one address.
 */
export function parseHostPort(text: string): HostPort | undefined {
  const match = BRACKETED.exec(text) ?? PLAIN.exec(text);
  if (!match) return undefined;
  const written = match[1] ?? '';
  const port = Number(match[2]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return undefined;
  const host = written.includes(':') ? canonicalIp(written) : keptByUrl(written);
  return host === undefined ? undefined : { host, port };
}

/** A name or IPv4 address that an http:// URL keeps as written; undefined otherwise. */
function keptByUrl(host: string): string | undefined {
  try {
    return new URL(`http://${host}`).hostname === host.toLowerCase() ? host : undefined;
  } catch {
    return undefined;
  }
}

export { formatHostPort };
