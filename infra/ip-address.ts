// IP address texts in one spelling per address, so that comparing addresses is comparing strings: IPv6 as
// RFC 5952 writes it (lower case, the longest run of zeros compressed, an IPv4-mapped address in dotted
// form: ::ffff:127.0.0.1), IPv4 in dotted decimal. Shared by the gateway's config and the DNS publishers,
// which compare configured addresses with those read back from a zone.
import { isIP, SocketAddress } from 'node:net';

/**
 * The canonical text of an IPv4 or IPv6 address; undefined for anything else, including an address with a
 * zone id ("fe80::1%eth0"): a zone names an interface of one host, it means nothing in config shared by
 * gateways or in DNS (and dns-packet encodes "::1%lo" as ::668).
 */
export function canonicalIp(text: string): string | undefined {
  const family = isIP(text);
  if (family === 0 || text.includes('%')) return undefined;
  // The address goes through its bytes and back (inet_pton / inet_ntop, which follows RFC 5952).
  return new SocketAddress({ address: text, family: family === 4 ? 'ipv4' : 'ipv6' }).address;
}

/** host:port, an IPv6 host in brackets ("[::1]:80", never "::1:80"). */
export function formatHostPort({ host, port }: { readonly host: string; readonly port: number }): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
