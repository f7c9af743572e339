// Names a caller can use (DESIGN.md): `hello.default.svc.<zone>` (wherever it runs),
// `aws-use1.hello.default.svc.<zone>` (pinned to one cluster), and the short forms `hello`, `hello.default`.
// Used for HTTP Host / :authority routing and by the mesh DNS listener. Pure; allocation-light.

export interface ServiceName {
  /** `name.namespace` */
  readonly service: string;
  /** Set when the name pins one cluster. */
  readonly cluster?: string;
}

export interface NameScope {
  /** The fabric zone, e.g. `clusterset.local`, lower-case, no trailing dot. */
  readonly zone: string;
  readonly defaultNamespace: string;
}

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Whether `label` (lower-case) is a DNS-1123 label: a service name or namespace. */
export function isNameLabel(label: string): boolean {
  return LABEL.test(label);
}

/**
 * Parses a host (optionally with `:port` and a trailing dot, any case) into a service name, or
 * undefined when it is not a name of this fabric.
 */
export function parseServiceName(host: string, scope: NameScope): ServiceName | undefined {
  const bare = stripPort(host);
  if (bare === undefined) return undefined;
  let name = bare.toLowerCase();
  if (name.endsWith('.')) name = name.slice(0, -1);
  const suffix = `.svc.${scope.zone}`;
  if (name.endsWith(suffix)) {
    const labels = name.slice(0, -suffix.length).split('.');
    if (!labels.every((l) => LABEL.test(l))) return undefined;
    if (labels.length === 2) return { service: `${labels[0]}.${labels[1]}` };
    if (labels.length === 3) return { service: `${labels[1]}.${labels[2]}`, cluster: labels[0] };
    return undefined;
  }
  const labels = name.split('.');
  if (!labels.every((l) => LABEL.test(l))) return undefined;
  if (labels.length === 1) return { service: `${labels[0]}.${scope.defaultNamespace}` };
  if (labels.length === 2) return { service: name };
  return undefined;
}

/** The fully qualified fabric-wide name of a service key (`hello.default` → `hello.default.svc.<zone>`). */
export function qualifiedName(service: string, zone: string, cluster?: string): string {
  return cluster ? `${cluster}.${service}.svc.${zone}` : `${service}.svc.${zone}`;
}

const PORT = /^\d*$/;

/** The host without its `:port`; undefined when the port is not digits (RFC 9110 §4.2.1: port = *DIGIT). */
function stripPort(host: string): string | undefined {
  if (host.startsWith('[')) return host;
  const colon = host.lastIndexOf(':');
  if (colon === -1) return host;
  return PORT.test(host.slice(colon + 1)) ? host.slice(0, colon) : undefined;
}
