// "host:port" and "[v6]:port" addresses as they appear in config files and discovery records.
import { isIPv6 } from 'node:net';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

const BRACKETED = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/;
const PLAIN = /^([A-Za-z0-9.-]+):(\d{1,5})$/;

/**
 * Parses "127.0.0.1:4140", "gw.example.com:4143" or "[::1]:4140"; undefined when malformed, or when a
 * URL (as node:http2 reads an authority) would read the host otherwise: "[1:2]", "999.1.1.1", "1.2.3".
 */
export function parseHostPort(text: string): HostPort | undefined {
  const match = BRACKETED.exec(text) ?? PLAIN.exec(text);
  if (!match) return undefined;
  const host = match[1] ?? '';
  const port = Number(match[2]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return undefined;
  return isDialableHost(host) ? { host, port } : undefined;
}

/** An IPv6 address, or a name or IPv4 address that an http:// URL keeps as written. */
function isDialableHost(host: string): boolean {
  if (host.includes(':')) return isIPv6(host);
  try {
    return new URL(`http://${host}`).hostname === host.toLowerCase();
  } catch {
    return false;
  }
}

export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
