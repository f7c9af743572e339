// This gateway's own identity and exports: what it writes to Redis (canonical record texts) and how it
// appears in its own view (always live, whatever Redis says). setLocalServices() replaces the whole
// set; an identical set is a no-op, so callers may call it on every config or health change.
import type { OwnGateway } from './fabric-cache.js';
import type { ServiceExport } from './fabric.js';
import { gatewayKey } from './keys.js';
import type { DiscoveryOptions } from './options.js';
import { encodeService, serviceRecordOf, type ServiceRecord } from './records.js';

export class LocalExports {
  private desiredTexts = new Map<string, string>();
  /**
   * The record and text of every export object set before that cannot have changed since (frozen
   * through): set again, it is neither validated nor encoded again.
   */
  private readonly encoded = new WeakMap<ServiceExport, { record: ServiceRecord; text: string }>();
  private current: OwnGateway;

  constructor(options: DiscoveryOptions, startedAt: number) {
    this.current = {
      gk: gatewayKey(options.cluster, options.gatewayId),
      cluster: { name: options.cluster, locality: options.locality },
      record: {
        cluster: options.cluster,
        id: options.gatewayId,
        peerAddress: options.peerAddress,
        startedAt,
        version: options.version,
      },
      services: new Map(),
      leaseExpiresAt: 0,
      version: 0,
    };
  }

  get own(): OwnGateway {
    return this.current;
  }

  /** Service key → canonical record text, as Redis should hold it. */
  get desired(): ReadonlyMap<string, string> {
    return this.desiredTexts;
  }

  /** Whether `service` is an object set before, unchanged since (validated then). */
  accepted(service: ServiceExport): boolean {
    return this.encoded.has(service);
  }

  /** Replaces the exported set (already validated); false when it is identical to the current one. */
  set(services: readonly ServiceExport[]): boolean {
    const records: ServiceRecord[] = [];
    const texts = new Map<string, string>();
    for (const service of services) {
      let entry = this.encoded.get(service);
      if (!entry) {
        const record = serviceRecordOf(service);
        entry = { record, text: encodeService(record) };
        if (frozenThrough(service)) this.encoded.set(service, entry);
      }
      records.push(entry.record);
      texts.set(entry.record.key, entry.text);
    }
    const same =
      texts.size === this.desiredTexts.size &&
      [...texts].every(([key, text]) => this.desiredTexts.get(key) === text);
    if (same) return false;
    this.desiredTexts = texts;
    this.current = {
      ...this.current,
      services: new Map(records.map((record) => [record.key, record])),
      version: this.current.version + 1,
    };
    return true;
  }

  /** A heartbeat or registration stamped this lease end (server clock). */
  leased(leaseEnd: number): void {
    this.current = { ...this.current, leaseExpiresAt: leaseEnd };
  }
}

/** Whether nothing of the export can change any more. */
function frozenThrough(service: ServiceExport): boolean {
  return (
    Object.isFrozen(service) &&
    Object.isFrozen(service.endpoints) &&
    (service.allow === null || Object.isFrozen(service.allow)) &&
    (service.ports === undefined || Object.isFrozen(service.ports))
  );
}
