// ECDSA P-256 keys for the fabric: generated through WebCrypto (what @peculiar/x509 signs with),
// stored as PKCS#8 PEM. Issuer keys may also come from other tools as SEC1 "EC PRIVATE KEY" PEM.
import { createPrivateKey, webcrypto, type KeyObject } from 'node:crypto';

/** The one key and signature algorithm of the fabric. */
export const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export function generateEcdsaKeyPair(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify']);
}

export async function privateKeyToPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' })
    .export({ type: 'pkcs8', format: 'pem' })
    .toString();
}

/**
 * Imports a PEM private key for signing. Throws a plain Error saying what is wrong when the text is
 * not a private key or not ECDSA P-256; callers wrap it with the file name.
 */
export async function importSigningKey(pem: string): Promise<webcrypto.CryptoKey> {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new Error('is not a PEM private key', { cause: err });
  }
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== 'ec' || curve !== 'prime256v1') {
    throw new Error(
      `is a ${key.asymmetricKeyType ?? 'unknown'}${curve ? ` ${curve}` : ''} key; weft issuers use ECDSA P-256`,
    );
  }
  const der = key.export({ type: 'pkcs8', format: 'der' });
  return webcrypto.subtle.importKey('pkcs8', der, ECDSA_P256, false, ['sign']);
}
