// The services this cluster serves, from two sources: the config file and registrations made over the
// control API. Published as an immutable map, replaced whole on every change; the data plane balances over
// it and discovery exports its summary. Config services are authoritative for protocol and allow-list;
// registrations for the same name add endpoints. A service only registrations define takes the protocol
// and allow-list of its registrations, which must agree: a stricter list must not be silently ignored.
import { GatewayError } from '../errors.js';
import type { HealthCheckConfig, ServiceConfig } from '../config/index.js';
import type { Protocol } from '../../discovery/index.js';

export interface LocalEndpoint {
  readonly host: string;
  readonly port: number;
  readonly weight: number;
}

export interface LocalService {
  /** `name.namespace` */
  readonly key: string;
  readonly name: string;
  readonly namespace: string;
  readonly protocol: Protocol;
  /** Calling clusters allowed; null means every cluster. */
  readonly allow: readonly string[] | null;
  readonly endpoints: readonly LocalEndpoint[];
  readonly health?: HealthCheckConfig;
}

export interface Registration {
  readonly name: string;
  readonly namespace: string;
  readonly protocol: Protocol;
  readonly endpoints: readonly LocalEndpoint[];
  readonly allow?: readonly string[] | null;
}

interface StoredRegistration extends Registration {
  readonly id: string;
  readonly owner: string;
}

export type CatalogListener = (services: ReadonlyMap<string, LocalService>) => void;

export class LocalCatalog {
  /** The config file's services, built once per config (registrations are laid over them). */
  private configured: ReadonlyMap<string, LocalService> = new Map();
  private readonly registrations = new Map<string, StoredRegistration>();
  private current: ReadonlyMap<string, LocalService> = new Map();
  private readonly listeners = new Set<CatalogListener>();
  private nextId = 1;

  constructor(configServices: readonly ServiceConfig[]) {
    this.configured = this.fromConfig(configServices);
    this.current = this.build();
  }

  /** The current services by key; an immutable snapshot. */
  services(): ReadonlyMap<string, LocalService> {
    return this.current;
  }

  /** Listeners run synchronously after each change, never re-entrantly. Returns an unsubscribe function. */
  subscribe(listener: CatalogListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Swaps the config-file services (on reload); registrations stay. */
  replaceConfigServices(services: readonly ServiceConfig[]): void {
    this.configured = this.fromConfig(services);
    this.publish();
  }

  /**
   * Adds a registration owned by `owner` (e.g. one control-API stream) and returns its id.
   * Throws USAGE when it contradicts the config file (another protocol for the same service), or the
   * registrations already there (another protocol or allow-list).
   */
  register(owner: string, registration: Registration): string {
    const key = `${registration.name}.${registration.namespace}`;
    const configured = this.configured.get(key);
    if (configured && configured.protocol !== registration.protocol) {
      throw new GatewayError(
        'USAGE',
        `service ${key} is configured with protocol ${configured.protocol}, not ${registration.protocol}`,
      );
    }
    const registered = configured ? undefined : this.current.get(key);
    if (
      registered &&
      (registered.protocol !== registration.protocol || !sameAllow(registered.allow, registration.allow))
    ) {
      throw new GatewayError(
        'USAGE',
        `service ${key} is registered with protocol ${registered.protocol} and allow ${describeAllow(registered.allow)}; a registration that adds endpoints to it must say the same (it says ${registration.protocol}, allow ${describeAllow(registration.allow)})`,
      );
    }
    // The same registration from the same owner again (an agent that lost its id and registered anew)
    // gets the id it has: a repeated Register neither piles up nor doubles an endpoint's share.
    const same = this.idOfSame(owner, registration);
    if (same !== undefined) return same;
    const id = `r${this.nextId++}`;
    this.registrations.set(id, { ...registration, id, owner });
    this.publish();
    return id;
  }

  private idOfSame(owner: string, registration: Registration): string | undefined {
    const wanted = JSON.stringify(registration);
    for (const { id, owner: existingOwner, ...existing } of this.registrations.values()) {
      if (existingOwner === owner && JSON.stringify(existing) === wanted) return id;
    }
    return undefined;
  }

  deregister(id: string): boolean {
    const removed = this.registrations.delete(id);
    if (removed) this.publish();
    return removed;
  }

  /** Removes every registration of an owner (its stream ended); returns how many. */
  removeOwner(owner: string): number {
    let removed = 0;
    for (const [id, registration] of this.registrations) {
      if (registration.owner === owner) {
        this.registrations.delete(id);
        removed++;
      }
    }
    if (removed > 0) this.publish();
    return removed;
  }

  private publish(): void {
    this.current = this.build();
    for (const listener of this.listeners) listener(this.current);
  }

  private fromConfig(configServices: readonly ServiceConfig[]): ReadonlyMap<string, LocalService> {
    const services = new Map<string, LocalService>();
    for (const s of configServices) {
      services.set(
        s.key,
        this.unchanged({
          key: s.key,
          name: s.name,
          namespace: s.namespace,
          protocol: s.protocol,
          allow: s.allow ?? null,
          endpoints: s.endpoints.map((e) => ({
            host: e.address.host,
            port: e.address.port,
            weight: e.weight,
          })),
          ...(s.health ? { health: s.health } : {}),
        }),
      );
    }
    return services;
  }

  /** The config's services with the registrations' endpoints added: only the services they touch are new. */
  private build(): ReadonlyMap<string, LocalService> {
    const services = new Map(this.configured);
    const touched = new Map<string, LocalService>();
    for (const r of this.registrations.values()) {
      const key = `${r.name}.${r.namespace}`;
      const existing = touched.get(key) ?? services.get(key);
      touched.set(
        key,
        existing
          ? { ...existing, endpoints: [...existing.endpoints, ...r.endpoints] }
          : {
              key,
              name: r.name,
              namespace: r.namespace,
              protocol: r.protocol,
              allow: r.allow ?? null,
              endpoints: r.endpoints,
            },
      );
    }
    for (const [key, service] of touched) services.set(key, this.unchanged(service));
    return services;
  }

  /**
   * The published object when `service` equals it (the route table rebuilds only services whose object
   * changed), else `service`, frozen.
   */
  private unchanged(service: LocalService): LocalService {
    const previous = this.current.get(service.key);
    if (previous && sameService(previous, service)) return previous;
    Object.freeze(service.endpoints);
    return service;
  }
}

function sameService(a: LocalService, b: LocalService): boolean {
  return (
    a.protocol === b.protocol &&
    a.health === b.health &&
    sameList(a.allow, b.allow) &&
    a.endpoints.length === b.endpoints.length &&
    a.endpoints.every((e, i) => {
      const other = b.endpoints[i];
      return (
        other !== undefined && e.host === other.host && e.port === other.port && e.weight === other.weight
      );
    })
  );
}

function sameList(a: readonly string[] | null, b: readonly string[] | null): boolean {
  if (a === null || b === null) return a === b;
  return a.length === b.length && a.every((item, i) => item === b[i]);
}

function sameAllow(a: readonly string[] | null, b: readonly string[] | null | undefined): boolean {
  const other = b ?? null;
  if (a === null || other === null) return a === other;
  return a.length === other.length && a.every((cluster) => other.includes(cluster));
}

function describeAllow(allow: readonly string[] | null | undefined): string {
  return allow ? `[${allow.join(', ')}]` : 'every cluster';
}
