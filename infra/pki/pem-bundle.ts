// Splitting PEM bundles: Node's X509Certificate parses only the first certificate of a PEM text, while
// certificate files here hold chains (leaf + intermediate) and trust bundles (one or more roots).
import { X509Certificate } from 'node:crypto';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * Every certificate in `text`, in order. Throws a plain Error saying what is wrong when there is none or
 * one does not parse; callers wrap it with the file name.
 */
export function parseCertificateBundle(text: string): X509Certificate[] {
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new Error('holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
  return blocks.map((block, index) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      throw new Error(`certificate #${index + 1} does not parse`, { cause: err });
    }
  });
}
