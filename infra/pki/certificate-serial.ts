// Certificate serial numbers: 128 random bits (CA/Browser Forum asks for at least 64), positive and
// minimally encoded, as hex for @peculiar/x509.
import { randomBytes } from 'node:crypto';

export function randomSerialNumber(): string {
  const bytes = randomBytes(16);
  // Clear the sign bit (serials are positive) and avoid a leading zero byte (DER wants minimal form).
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return bytes.toString('hex');
}
