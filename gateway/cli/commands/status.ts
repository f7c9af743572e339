// `weft status [--admin URL] [--json]`: asks a running gateway's admin API (/api/v1/status) how it sees
// the fabric and prints clusters (freshness, gateways, lease), services (where, endpoint health) and how
// fresh its discovery snapshot is. `--json` prints the API's JSON unchanged.
import type { Command } from 'commander';
import type { ClusterJson, ServiceJson, StatusResponse } from '../../admin/index.js';
import { adminUrl, DEFAULT_ADMIN, fetchAdminJson } from '../admin-client.js';
import { textTable } from '../text-table.js';

interface StatusFlags {
  admin: string;
  json?: boolean;
}

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('clusters, gateways, services and discovery freshness as a running gateway sees them')
    .option('--admin <url>', 'admin API of the gateway to ask', DEFAULT_ADMIN)
    .option('--json', 'print the raw JSON of /api/v1/status')
    .action(async (flags: StatusFlags) => {
      const { text, body: status } = await fetchAdminJson<StatusResponse>(
        adminUrl(flags.admin, '/api/v1/status'),
      );
      if (flags.json) {
        process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
        return;
      }
      process.stdout.write(renderStatus(status));
    });
}

/** Compact human form: 1.2s, 45s, 3m10s, 2h5m. */
function duration(ms: number): string {
  const abs = Math.abs(ms);
  if (abs < 10_000) return `${(abs / 1000).toFixed(1)}s`;
  const seconds = Math.round(abs / 1000);
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${seconds % 60 ? `${seconds % 60}s` : ''}`;
  const minutes = Math.floor(seconds / 60);
  return `${Math.floor(minutes / 60)}h${minutes % 60 ? `${minutes % 60}m` : ''}`;
}

/** The soonest live lease end, or how long ago the last lease ended; '-' when no lease is known. */
function lease(cluster: ClusterJson): string {
  const remaining = (live: boolean) =>
    cluster.gateways.flatMap((g) =>
      (g.freshness === 'live') === live && g.leaseRemainingMs !== null ? [g.leaseRemainingMs] : [],
    );
  const live = remaining(true);
  if (live.length > 0) return duration(Math.min(...live));
  const ended = remaining(false);
  if (ended.length > 0) return `expired ${duration(Math.max(...ended))} ago`;
  return '-';
}

function clusterRow(cluster: ClusterJson): string[] {
  const { cloud, region, zone } = cluster.locality;
  const live = cluster.gateways.filter((g) => g.freshness === 'live').length;
  return [
    cluster.local ? `${cluster.name} *` : cluster.name,
    [cloud, region, zone].filter(Boolean).join('/'),
    cluster.staleForMs === null ? cluster.freshness : `${cluster.freshness} ${duration(cluster.staleForMs)}`,
    `${live}/${cluster.gateways.length}`,
    lease(cluster),
  ];
}

function serviceRow(service: ServiceJson): string[] {
  const where = service.clusters.map((c) => {
    const health = `${c.endpoints.healthy ?? '?'}/${c.endpoints.total}`;
    const notes = [c.freshness === 'live' ? '' : c.freshness, c.allow ? `allow ${c.allow.join(',')}` : '']
      .filter(Boolean)
      .join(', ');
    return `${c.cluster} ${health}${notes ? ` (${notes})` : ''}`;
  });
  return [service.service, service.protocol, where.join('; ')];
}

/** Why discovery is down, when it knows: the Redis error says what to fix (credentials, TLS, address). */
function disconnected(lastError: string | null): string {
  return lastError === null ? 'DISCONNECTED' : `DISCONNECTED (${lastError})`;
}

function renderStatus(status: StatusResponse): string {
  const { gateway, discovery } = status;
  const { cloud, region, zone } = gateway.locality;
  const locality = [cloud, region, zone].filter(Boolean).join('/');
  const synced =
    discovery.snapshotAgeMs === null
      ? 'never synced with Redis'
      : `synced ${duration(discovery.snapshotAgeMs)} ago`;
  const out = [
    `gateway    ${gateway.cluster}/${gateway.gatewayId}  weft ${gateway.version}  ${locality}  ${gateway.ready ? 'ready' : 'NOT READY'}`,
    `discovery  ${discovery.connected ? 'connected' : disconnected(discovery.lastError)}, snapshot rev ${discovery.revision} from ${discovery.source}, ${synced}; clusters ${discovery.clusters.live} live, ${discovery.clusters.stale} stale`,
    '',
  ];
  out.push(
    status.clusters.length === 0
      ? 'no clusters known yet\n'
      : textTable(['CLUSTER', 'LOCALITY', 'FRESHNESS', 'GATEWAYS', 'LEASE'], status.clusters.map(clusterRow)),
  );
  out.push(
    status.services.length === 0
      ? 'no services\n'
      : textTable(
          ['SERVICE', 'PROTOCOL', 'CLUSTERS (healthy/total endpoints)'],
          status.services.map(serviceRow),
        ),
  );
  return out.join('\n');
}
