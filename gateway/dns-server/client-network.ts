// What the mesh DNS counts a client's TCP connections by: its IPv4 address, or the /64 of its IPv6
// address. One IPv6 host commonly has a whole /64 to pick source addresses from (RFC 4941 temporary
// addresses), so a cap per IPv6 address would cap nothing.
import { isIP } from 'node:net';
import { unmapIPv4 } from '../config/ip-address.js';

/** "192.0.2.7" for IPv4 (an IPv4-mapped IPv6 address included), "2001:db8:0:1::/64" for IPv6. */
export function clientNetworkOf(address: string): string {
  const ip = unmapIPv4(address);
  if (isIP(ip) !== 6) return ip;
  // Canonical text (RFC 5952): at most one "::", which stands for the zero groups it leaves out.
  const [head = '', tail] = ip.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros: string[] = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return `${[...left, ...zeros, ...right].slice(0, 4).join(':')}::/64`;
}
