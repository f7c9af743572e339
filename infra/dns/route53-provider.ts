// A DnsProvider for Amazon Route 53 (@aws-sdk/client-route-53). Credentials come from the SDK's default
// provider chain (env, shared config/SSO, web identity, ECS/EC2 roles); `endpoint` points it at a test
// double. Every request is paced under the account's 5 requests/s and retried with backoff on throttling
// and PriorRequestNotComplete; the SDK's own retries are off so the pacing stays honest.
// The SDK (~20 MB resident) is imported on the first request, so a gateway that publishes through
// RFC 2136, or not at all, never loads it.
import { createHash } from 'node:crypto';
import type * as Route53SdkModule from '@aws-sdk/client-route-53';
import type { Change, Route53Client } from '@aws-sdk/client-route-53';
import { InfraError } from '../errors.js';
import type { ChangeUnit } from './change-plan.js';
import { systemClock, type DnsClock } from './dns-clock.js';
import type { DnsProvider } from './dns-provider.js';
import {
  fenceHolder,
  fenceName,
  fenceRecord,
  judgeFence,
  type FenceClaim,
  type FenceHolder,
} from './fence-record.js';
import { normalizeDnsName } from './record-spec.js';
import type { RecordKey, RecordSet } from './record-set.js';
import { RequestPacer } from './request-pacer.js';
import { withRetries, type BackoffPolicy } from './retry-backoff.js';
import { fromRoute53Name, fromRoute53Set, route53Changes, toRoute53Set } from './route53-changes.js';

export interface Route53HealthCheckOptions {
  readonly type: 'HTTP' | 'HTTPS' | 'TCP';
  readonly port: number;
  /** HTTP(S) only; default `/healthz`. */
  readonly path?: string;
  /** 10 or 30; default 30. */
  readonly requestIntervalSeconds?: 10 | 30;
  /** 1–10; default 3. */
  readonly failureThreshold?: number;
}

export interface Route53ProviderOptions {
  /** `Z123…` or `/hostedzone/Z123…`. */
  readonly hostedZoneId: string;
  /** The hosted zone's name, e.g. `example.com`. */
  readonly zone: string;
  readonly region?: string;
  /** A custom endpoint (a Route 53 test double); default AWS. */
  readonly endpoint?: string;
  /** A client to use instead of building one (its retry settings are then the caller's). */
  readonly client?: Route53Client;
  /** Create a Route 53 health check per published gateway address and attach it to its record set. */
  readonly healthChecks?: Route53HealthCheckOptions;
  /** Wait for each change to reach INSYNC before returning; default false. */
  readonly waitForSync?: boolean;
  /** Default 120000. */
  readonly syncTimeoutMs?: number;
  /** Default 5000. */
  readonly syncPollMs?: number;
  /** Default 5 (Route 53's per-account limit). */
  readonly requestsPerSecond?: number;
  readonly backoff?: BackoffPolicy;
  readonly clock?: DnsClock;
}

// Route 53 names the "previous change still running" error PriorRequestNotComplete; PriorRequestNotFound is
// accepted too, as some tools and docs spell it.
const RETRYABLE = new Set([
  'Throttling',
  'ThrottlingException',
  'PriorRequestNotComplete',
  'PriorRequestNotFound',
  'ServiceUnavailable',
  'InternalFailure',
  'InternalError',
  'RequestTimeout',
  'TimeoutError',
]);
const THROTTLED = new Set([
  'Throttling',
  'ThrottlingException',
  'PriorRequestNotComplete',
  'PriorRequestNotFound',
]);

interface AwsError {
  readonly name?: string;
  readonly message?: string;
  readonly $metadata?: { readonly httpStatusCode?: number };
}

type Route53Sdk = typeof Route53SdkModule;

function isRetryable(err: unknown): boolean {
  const e = err as AwsError;
  if (e?.name && RETRYABLE.has(e.name)) return true;
  const status = e?.$metadata?.httpStatusCode;
  if (status !== undefined) return status === 429 || status >= 500;
  return e?.name !== 'InvalidChangeBatch' && e?.name !== 'InvalidInput' && !(err instanceof InfraError);
}

export class Route53Provider implements DnsProvider {
  readonly kind = 'route53';
  readonly zone: string;
  readonly routingPolicies = true;
  private readonly hostedZoneId: string;
  private readonly givenClient: Route53Client | undefined;
  /** The SDK module and our client, loaded on the first request. */
  private loaded: Promise<{ readonly sdk: Route53Sdk; readonly client: Route53Client }> | undefined;
  private builtClient: Route53Client | undefined;
  private closed = false;
  private readonly options: Route53ProviderOptions;
  private readonly clock: DnsClock;
  private readonly pacer: RequestPacer;
  private readonly healthCheckIds = new Map<string, string>();

  constructor(options: Route53ProviderOptions) {
    this.options = options;
    this.zone = normalizeDnsName(options.zone);
    this.hostedZoneId = options.hostedZoneId.replace(/^\/hostedzone\//, '');
    if (!/^[A-Z0-9]{1,32}$/i.test(this.hostedZoneId)) {
      throw new InfraError('DNS_INVALID', `"${options.hostedZoneId}" is not a Route 53 hosted zone id`);
    }
    this.clock = options.clock ?? systemClock;
    this.pacer = new RequestPacer(options.requestsPerSecond ?? 5, this.clock);
    this.givenClient = options.client;
  }

  async readRecords(keys: readonly RecordKey[], signal?: AbortSignal): Promise<RecordSet[]> {
    const sets: RecordSet[] = [];
    for (const key of keys) sets.push(...(await this.listAt(key, signal)));
    return sets;
  }

  async prepare(desired: readonly RecordSet[], signal?: AbortSignal): Promise<RecordSet[]> {
    const checks = this.options.healthChecks;
    if (!checks) return [...desired];
    const prepared: RecordSet[] = [];
    for (const set of desired) {
      if (!set.origin) prepared.push(set);
      else prepared.push({ ...set, healthCheckId: await this.healthCheck(set.origin, checks, signal) });
    }
    return prepared;
  }

  async claimFence(ownerId: string, holder: FenceHolder, signal?: AbortSignal): Promise<FenceClaim> {
    const [current] = await this.listAt({ name: fenceName(this.zone, ownerId), type: 'TXT' }, signal);
    const zone = fenceHolder(current);
    const verdict = judgeFence(zone, holder);
    if (verdict === 'held') return { claimed: true };
    if (verdict === 'ahead') return { claimed: false, zoneToken: zone?.token ?? 0 };
    const next = toRoute53Set(fenceRecord(this.zone, ownerId, holder));
    const changes: Change[] = current
      ? [
          { Action: 'DELETE', ResourceRecordSet: toRoute53Set(current) },
          { Action: 'CREATE', ResourceRecordSet: next },
        ]
      : [{ Action: 'CREATE', ResourceRecordSet: next }];
    await this.change(changes, `weft ${ownerId}: fence ${holder.token}`, signal);
    return { claimed: true };
  }

  async applyBatch(
    units: readonly ChangeUnit[],
    ownerId: string,
    holder: FenceHolder,
    signal?: AbortSignal,
  ): Promise<void> {
    const changes = route53Changes(units, this.zone, ownerId, holder);
    await this.change(changes, `weft ${ownerId}: fence ${holder.token}`, signal);
  }

  close(): Promise<void> {
    this.closed = true;
    this.builtClient?.destroy();
    this.builtClient = undefined;
    return Promise.resolve();
  }

  private sdk(): Promise<{ readonly sdk: Route53Sdk; readonly client: Route53Client }> {
    if (this.closed) return Promise.reject(new InfraError('DNS_PROVIDER', 'the Route 53 provider is closed'));
    this.loaded ??= import('@aws-sdk/client-route-53').then((sdk: Route53Sdk) => {
      let client = this.givenClient;
      if (!client) {
        client = new sdk.Route53Client({
          region: this.options.region ?? 'us-east-1',
          maxAttempts: 1,
          ...(this.options.endpoint ? { endpoint: this.options.endpoint } : {}),
        });
        // close() may have run while the SDK loaded: the client we just built must not outlive it.
        if (this.closed) client.destroy();
        else this.builtClient = client;
      }
      return { sdk, client };
    });
    const loading = this.loaded;
    return loading.catch((err: unknown) => {
      if (this.loaded === loading) this.loaded = undefined;
      throw new InfraError('DNS_PROVIDER', `cannot load @aws-sdk/client-route-53: ${String(err)}`, {
        cause: err,
      });
    });
  }

  private async listAt(key: RecordKey, signal?: AbortSignal): Promise<RecordSet[]> {
    const sets: RecordSet[] = [];
    let identifier: string | undefined;
    const { sdk, client } = await this.sdk();
    for (let page = 0; page < 100; page++) {
      const out = await this.call(
        () =>
          client.send(
            new sdk.ListResourceRecordSetsCommand({
              HostedZoneId: this.hostedZoneId,
              StartRecordName: `${key.name}.`,
              StartRecordType: key.type,
              ...(identifier ? { StartRecordIdentifier: identifier } : {}),
              MaxItems: 100,
            }),
            { abortSignal: signal },
          ),
        signal,
      );
      for (const raw of out.ResourceRecordSets ?? []) {
        const set = fromRoute53Set(raw);
        if (set && set.name === key.name && set.type === key.type) sets.push(set);
      }
      const more =
        out.IsTruncated &&
        out.NextRecordIdentifier &&
        out.NextRecordType === key.type &&
        fromRoute53Name(out.NextRecordName ?? '') === key.name;
      if (!more) return sets;
      identifier = out.NextRecordIdentifier;
    }
    return sets;
  }

  private async change(changes: Change[], comment: string, signal?: AbortSignal): Promise<void> {
    let changeId: string | undefined;
    const { sdk, client } = await this.sdk();
    try {
      const out = await this.call(
        () =>
          client.send(
            new sdk.ChangeResourceRecordSetsCommand({
              HostedZoneId: this.hostedZoneId,
              ChangeBatch: { Comment: comment, Changes: changes },
            }),
            { abortSignal: signal },
          ),
        signal,
      );
      changeId = out.ChangeInfo?.Id;
    } catch (err) {
      if ((err as AwsError)?.name === 'InvalidChangeBatch') {
        throw new InfraError(
          'DNS_CONFLICT',
          `Route 53 rejected the change batch, nothing was applied (the fence moved to a newer leader or the records changed since they were read): ${(err as AwsError).message ?? ''}`,
          { cause: err },
        );
      }
      throw err;
    }
    if (this.options.waitForSync && changeId) await this.waitInSync(changeId, signal);
  }

  private async waitInSync(changeId: string, signal?: AbortSignal): Promise<void> {
    const deadline = this.clock.now() + (this.options.syncTimeoutMs ?? 120_000);
    const { sdk, client } = await this.sdk();
    for (;;) {
      const out = await this.call(
        () => client.send(new sdk.GetChangeCommand({ Id: changeId }), { abortSignal: signal }),
        signal,
      );
      if (out.ChangeInfo?.Status === 'INSYNC') return;
      if (this.clock.now() >= deadline) {
        throw new InfraError(
          'DNS_PROVIDER',
          `Route 53 change ${changeId} is not INSYNC after ${this.options.syncTimeoutMs ?? 120_000}ms`,
        );
      }
      await this.clock.sleep(this.options.syncPollMs ?? 5000, signal);
    }
  }

  private async healthCheck(
    origin: { readonly cluster: string; readonly address: string },
    checks: Route53HealthCheckOptions,
    signal?: AbortSignal,
  ): Promise<string> {
    const config = {
      IPAddress: origin.address,
      Port: checks.port,
      Type: checks.type,
      ...(checks.type === 'TCP' ? {} : { ResourcePath: checks.path ?? '/healthz' }),
      RequestInterval: checks.requestIntervalSeconds ?? 30,
      FailureThreshold: checks.failureThreshold ?? 3,
    };
    // Same CallerReference and settings → Route 53 returns the existing check, so restarts reuse it.
    const reference = `weft-${createHash('sha256')
      .update(JSON.stringify({ zone: this.hostedZoneId, cluster: origin.cluster, config }))
      .digest('hex')
      .slice(0, 40)}`;
    const cached = this.healthCheckIds.get(reference);
    if (cached) return cached;
    const { sdk, client } = await this.sdk();
    const out = await this.call(
      () =>
        client.send(
          new sdk.CreateHealthCheckCommand({ CallerReference: reference, HealthCheckConfig: config }),
          {
            abortSignal: signal,
          },
        ),
      signal,
    );
    const id = out.HealthCheck?.Id;
    if (!id)
      throw new InfraError(
        'DNS_PROVIDER',
        `Route 53 created no health check for ${origin.cluster} ${origin.address}`,
      );
    this.healthCheckIds.set(reference, id);
    return id;
  }

  private async call<T>(send: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    try {
      return await withRetries(
        async () => {
          await this.pacer.take(signal);
          return send();
        },
        isRetryable,
        this.clock,
        this.options.backoff,
        signal,
      );
    } catch (err) {
      if (err instanceof InfraError || (err as AwsError)?.name === 'InvalidChangeBatch') throw err;
      const name = (err as AwsError)?.name ?? 'Error';
      const message = `Route 53 ${name}: ${(err as AwsError)?.message ?? String(err)}`;
      throw new InfraError(THROTTLED.has(name) ? 'DNS_THROTTLED' : 'DNS_PROVIDER', message, { cause: err });
    }
  }
}
