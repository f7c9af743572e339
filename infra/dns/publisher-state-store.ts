// The DNS publisher's last applied state in Redis (`weft:{v1}:dns:<owner>:state`): which name/types weft
// owns, what it last published, and the hold-down gate. A new leader starts from it. Writes are fenced: a
// Lua script stores the state only while the writer's `<instance> <token>` still holds the lease.
import type { Cluster, Redis } from 'ioredis';
import { InfraError } from '../errors.js';
import type { GateState } from './health-gate.js';
import { dnsKeys } from './leader-lease.js';
import type { RecordKey, RecordSet } from './record-set.js';

export interface PublisherState {
  readonly version: 1;
  readonly token: number;
  readonly instanceId: string;
  /** Epoch ms. */
  readonly appliedAt: number;
  /** Name/types weft owns in the zone. */
  readonly owned: readonly RecordKey[];
  /** The owned record sets as last applied or read. */
  readonly records: readonly RecordSet[];
  readonly gate: GateState;
}

const SAVE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
return 1`;

export class PublisherStateStore {
  private readonly redis: Redis | Cluster;
  private readonly keys: ReturnType<typeof dnsKeys>;

  constructor(redis: Redis | Cluster, ownerId: string) {
    this.redis = redis;
    this.keys = dnsKeys(ownerId);
  }

  /** The saved state; undefined when none. A corrupt value is reported, never trusted. */
  async load(): Promise<PublisherState | undefined> {
    const raw = await this.redis.get(this.keys.state);
    if (raw === null) return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new InfraError(
        'DNS_PROVIDER',
        `${this.keys.state} in Redis is not JSON; delete it to start afresh`,
      );
    }
    if (!isState(parsed)) {
      throw new InfraError(
        'DNS_PROVIDER',
        `${this.keys.state} in Redis is not a weft DNS state; delete it to start afresh`,
      );
    }
    return parsed;
  }

  /** Stores `state` if `instanceId` still holds the lease with `state.token`; false when fenced off. */
  async save(state: PublisherState): Promise<boolean> {
    const saved = await this.redis.eval(
      SAVE,
      2,
      this.keys.leader,
      this.keys.state,
      `${state.instanceId} ${state.token}`,
      JSON.stringify(state),
    );
    return saved === 1;
  }
}

function isState(value: unknown): value is PublisherState {
  if (!value || typeof value !== 'object') return false;
  const s = value as Record<string, unknown>;
  const keyOk = (k: unknown) =>
    !!k &&
    typeof k === 'object' &&
    typeof (k as RecordKey).name === 'string' &&
    typeof (k as RecordKey).type === 'string';
  const setOk = (r: unknown) =>
    keyOk(r) && Array.isArray((r as RecordSet).values) && typeof (r as RecordSet).ttl === 'number';
  return (
    s.version === 1 &&
    typeof s.token === 'number' &&
    typeof s.instanceId === 'string' &&
    typeof s.appliedAt === 'number' &&
    Array.isArray(s.owned) &&
    s.owned.every(keyOk) &&
    Array.isArray(s.records) &&
    s.records.every(setOk) &&
    !!s.gate &&
    typeof s.gate === 'object'
  );
}
