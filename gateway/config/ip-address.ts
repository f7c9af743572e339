// What a host in the config is, asked of its canonical spelling (infra/ip-address.ts): config parsing
// canonicalizes every IP it keeps, and these canonicalize again, so other spellings work too.
import { isIP } from 'node:net';
import { canonicalIp } from '../../infra/index.js';

const MAPPED = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/;

/** The IPv4 address an IPv4-mapped IPv6 address (::ffff:a.b.c.d) stands for; other addresses unchanged. */
export function unmapIPv4(ip: string): string {
  const canonical = canonicalIp(ip) ?? ip;
  return MAPPED.exec(canonical)?.[1] ?? canonical;
}

/** 0.0.0.0, :: or ::ffff:0.0.0.0, however written: "every address of this host" when bound. */
export function isUnspecifiedIp(host: string): boolean {
  const ip = unmapIPv4(host);
  return ip === '0.0.0.0' || ip === '::';
}

/** 127.0.0.0/8, ::1 or an IPv4-mapped 127.0.0.0/8 address, however written. Host names are not IPs. */
export function isLoopbackIp(host: string): boolean {
  const ip = unmapIPv4(host);
  return ip === '::1' || (isIP(ip) === 4 && ip.startsWith('127.'));
}
