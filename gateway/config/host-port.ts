// "host:port" and "[v6]:port" addresses as they appear in config files and discovery records.

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

const BRACKETED = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/;
const PLAIN = /^([A-Za-z0-9.-]+):(\d{1,5})$/;

/** Parses "127.0.0.1:4140", "gw.example.com:4143" or "[::1]:4140"; undefined when malformed. */
export function parseHostPort(text: string): HostPort | undefined {
  const match = BRACKETED.exec(text) ?? PLAIN.exec(text);
  if (!match) return undefined;
  const port = Number(match[2]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return undefined;
  return { host: match[1] ?? '', port };
}

export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
