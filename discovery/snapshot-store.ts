// The registry's last known state on disk, so a gateway restarted while Redis is down still routes.
// Written atomically (temp file + rename: a crash leaves the old file or the new one, never half of
// one) and debounced (at most one write per delay, the latest state wins). Read once at start and
// validated like Redis records: a bad file or record is skipped, never fatal.
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { FabricModel } from './fabric-model.js';
import {
  encodeCluster,
  encodeGateway,
  validateCluster,
  validateGateway,
  validateService,
} from './records.js';
import type { SkipReason, StoredService } from './records.js';

const FORMAT = 'weft.discovery.snapshot';

// Records are embedded as JSON values (the exact text read from Redis), not as strings, so writing a
// large fabric is string concatenation rather than re-encoding and escaping every record.
const fileSchema = z.object({
  format: z.literal(FORMAT),
  v: z.literal(1),
  savedAt: z.number(),
  syncedAt: z.number().nullable(),
  clusters: z.record(z.string(), z.unknown()),
  gateways: z.record(
    z.string(),
    z.object({
      record: z.unknown(),
      leaseScore: z.number().nullable(),
      leaseRemainingMs: z.number().nullable(),
      services: z.record(z.string(), z.unknown()),
    }),
  ),
});

export interface LoadedSnapshot {
  readonly savedAt: number;
  readonly syncedAt: number | null;
}

/** Serializes the model; lease ends are stored relative to `at`, the local time of the last contact. */
export function serializeModel(
  model: FabricModel,
  savedAt: number,
  syncedAt: number | null,
  at: number,
): string {
  const parts: string[] = [
    `{"format":${JSON.stringify(FORMAT)},"v":1,"savedAt":${savedAt},"syncedAt":${syncedAt ?? 'null'},"clusters":{`,
  ];
  let first = true;
  for (const [name, record] of model.clusters) {
    parts.push(`${first ? '' : ','}${JSON.stringify(name)}:${encodeCluster(record)}`);
    first = false;
  }
  parts.push('},"gateways":{');
  first = true;
  for (const [gk, entry] of model.gateways) {
    const remaining = Number.isFinite(entry.leaseLocalEnd) ? entry.leaseLocalEnd - at : null;
    parts.push(
      `${first ? '' : ','}${JSON.stringify(gk)}:{"record":${encodeGateway(entry.record)},` +
        `"leaseScore":${entry.leaseScore ?? 'null'},"leaseRemainingMs":${remaining ?? 'null'},"services":{`,
    );
    first = false;
    let firstService = true;
    for (const [key, service] of entry.services) {
      parts.push(`${firstService ? '' : ','}${JSON.stringify(key)}:${service.text}`);
      firstService = false;
    }
    parts.push('}}');
  }
  parts.push('}}');
  return parts.join('');
}

/**
 * Loads a serialized model into `model`, lease ends relative to `at` (the local time of loading, at
 * which the caller freezes lease evaluation). Returns undefined when the text is not a snapshot.
 */
export function restoreModel(
  text: string,
  model: FabricModel,
  at: number,
  skip: (key: string, reason: SkipReason, detail: string) => void,
): LoadedSnapshot | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    skip('snapshot', 'invalid_snapshot', (err as Error).message);
    return undefined;
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    skip('snapshot', 'invalid_snapshot', `${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
    return undefined;
  }
  const file = parsed.data;
  for (const [gk, stored] of Object.entries(file.gateways)) {
    const gateway = validateGateway(gk, stored.record);
    if (!gateway.ok) {
      skip(`snapshot#${gk}`, gateway.reason, gateway.detail);
      continue;
    }
    const name = gateway.value.cluster;
    const cluster = validateCluster(name, file.clusters[name]);
    if (!cluster.ok) {
      skip(`snapshot#${name}`, cluster.reason, cluster.detail);
      continue;
    }
    model.upsertCluster(cluster.value);
    const entry = model.upsertGateway(gk, gateway.value);
    entry.leaseScore = stored.leaseScore ?? undefined;
    entry.leaseLocalEnd = stored.leaseRemainingMs === null ? -Infinity : at + stored.leaseRemainingMs;
    const services = new Map<string, StoredService>();
    for (const [key, value] of Object.entries(stored.services)) {
      const service = validateService(key, value);
      if (service.ok) services.set(key, { record: service.value, text: JSON.stringify(value) });
      else skip(`snapshot#${gk}#${key}`, service.reason, service.detail);
    }
    model.replaceServices(gk, services, []);
  }
  return { savedAt: file.savedAt, syncedAt: file.syncedAt };
}

export class SnapshotStore {
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private pending: (() => string) | undefined;
  private lastWriteAtMs: number | undefined;
  private lastErrorText: string | undefined;

  constructor(
    readonly path: string,
    private readonly writeDelayMs: number,
    private readonly logger: Logger,
    private readonly onWriteError: () => void,
  ) {}

  get lastWriteAt(): number | undefined {
    return this.lastWriteAtMs;
  }

  get lastError(): string | undefined {
    return this.lastErrorText;
  }

  /** Reads the file; undefined when there is none. Never throws. */
  async read(): Promise<string | undefined> {
    try {
      return await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.logger.warn(
          { err, path: this.path },
          'discovery: cannot read the snapshot file; starting without it',
        );
      }
      return undefined;
    }
  }

  /** Writes `serialize()` within writeDelayMs; later calls before the write replace earlier ones. */
  schedule(serialize: () => string): void {
    this.pending = serialize;
    if (this.timer || this.writing) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.writeDelayMs);
    this.timer.unref();
  }

  /** Writes a pending snapshot now (and waits for a write in progress). */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (this.writing) await this.writing;
    const serialize = this.pending;
    if (!serialize) return;
    this.pending = undefined;
    this.writing = this.write(serialize()).finally(() => {
      this.writing = undefined;
      if (this.pending) this.schedule(this.pending);
    });
    await this.writing;
  }

  private async write(text: string): Promise<void> {
    const tmp = `${this.path}.${process.pid}.tmp`;
    try {
      await mkdir(dirname(this.path), { recursive: true });
      await writeFile(tmp, text);
      await rename(tmp, this.path);
      this.lastWriteAtMs = Date.now();
      this.lastErrorText = undefined;
    } catch (err) {
      this.lastErrorText = (err as Error).message;
      this.onWriteError();
      this.logger.warn({ err, path: this.path }, 'discovery: cannot write the snapshot file');
      await unlink(tmp).catch(() => undefined);
    }
  }
}
