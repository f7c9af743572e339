// @peculiar/x509 (with tsyringe and reflect-metadata, about 20 MB resident) is needed only to issue
// certificates: a gateway that loads and checks its TLS files uses node:crypto and never imports it.
import type * as x509 from '@peculiar/x509';

export type X509Library = typeof x509;

let loading: Promise<X509Library> | undefined;

/** The library, imported on first use; tsyringe needs the reflect-metadata polyfill loaded first. */
export function loadX509(): Promise<X509Library> {
  loading ??= import('reflect-metadata').then(() => import('@peculiar/x509'));
  return loading;
}
