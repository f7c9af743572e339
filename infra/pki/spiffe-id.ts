// The fabric's identity grammar: a gateway of cluster C in trust domain D is
// `spiffe://D/cluster/C/gateway`. Trust domains are lower-case DNS names and clusters DNS labels, the
// same grammar the gateway config accepts, so a name valid in one place is valid in the other.

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/;
const GATEWAY_ID = /^spiffe:\/\/([^/]+)\/cluster\/([^/]+)\/gateway$/;

/** Who a gateway certificate says its holder is. */
export interface GatewayIdentity {
  readonly trustDomain: string;
  readonly cluster: string;
}

/** True when `name` can be a cluster name: a lower-case DNS label (letters, digits, '-', at most 63). */
export function isClusterName(name: string): boolean {
  return DNS_LABEL.test(name);
}

/** True when `name` can be a trust domain: a lower-case DNS name such as `acme.test`. */
export function isTrustDomain(name: string): boolean {
  return DNS_NAME.test(name);
}

/** The SPIFFE ID of a cluster's gateways. Throws a RangeError on names outside the grammar. */
export function spiffeIdFor(trustDomain: string, cluster: string): string {
  if (!isTrustDomain(trustDomain)) throw new RangeError(`"${trustDomain}" is not a valid trust domain`);
  if (!isClusterName(cluster)) throw new RangeError(`"${cluster}" is not a valid cluster name`);
  return `spiffe://${trustDomain}/cluster/${cluster}/gateway`;
}

/** The DNS SAN also written into gateway certificates, for tools that only look at DNS names. */
export function gatewayDnsNameFor(trustDomain: string, cluster: string): string {
  return `${cluster}.gateway.${trustDomain}`;
}

/** Parses a gateway SPIFFE ID; undefined for anything else (other paths, bad names, query, port). */
export function parseGatewayIdentity(uri: string): GatewayIdentity | undefined {
  const match = GATEWAY_ID.exec(uri);
  if (!match) return undefined;
  const [, trustDomain = '', cluster = ''] = match;
  if (!isTrustDomain(trustDomain) || !isClusterName(cluster)) return undefined;
  return { trustDomain, cluster };
}
