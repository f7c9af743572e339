// The composition root of one gateway process: builds every component from a validated config, starts
// them in dependency order (TLS material → catalog → discovery → data plane → control → admin → mesh DNS)
// and closes them in reverse. Components know nothing of each other beyond the interfaces passed in.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Registry } from 'prom-client';
import type { Logger } from 'pino';
import { Discovery, DiscoveryError } from '../discovery/index.js';
import { TlsMaterial } from '../infra/index.js';
import { AdminServer } from './admin/index.js';
import { exportsOf, LocalCatalog, type LocalEndpoint } from './catalog/index.js';
import { formatHostPort, loadConfigFile, planReload, type GatewayConfig } from './config/index.js';
import { ControlServer } from './control/index.js';
import { DataPlane } from './data-plane.js';
import { GatewayError } from './errors.js';
import { FabricDnsPublisher } from './dns-publishing.js';
import { FailoverMetrics, LocalHealthChecker, logOutlierEvent, type HealthSnapshot } from './health/index.js';
import { FabricEvents, fabricEventOfFailover, GoldenMetrics } from './observability/index.js';
import { OutlierTracker } from './resilience/index.js';
import { MeshDnsServer } from './dns-server/index.js';
import { WEFT_VERSION } from './cli/version.js';

export interface GatewayOptions {
  readonly config: GatewayConfig;
  readonly logger: Logger;
  /** Replica id within the cluster; defaults to `<hostname>-<random>`. */
  readonly gatewayId?: string;
}

interface Closable {
  close(): Promise<void>;
}

export class Gateway {
  readonly gatewayId: string;
  readonly metrics = new Registry();
  private config: GatewayConfig;
  private readonly logger: Logger;
  private readonly started: Closable[] = [];
  private dataPlane: DataPlane | undefined;
  private discovery: Discovery | undefined;
  private catalog: LocalCatalog | undefined;
  private closing: Promise<void> | undefined;
  private draining = false;
  /** Every component started (reloads wait for this). */
  private running = false;
  /** The last reload asked for; the next one starts after it. */
  private reloads: Promise<void> = Promise.resolve();

  constructor(options: GatewayOptions) {
    this.config = options.config;
    this.logger = options.logger;
    this.gatewayId = options.gatewayId ?? `${hostname()}-${randomBytes(3).toString('hex')}`;
  }

  /** Starts every component; on failure closes what had started and rethrows. */
  async start(): Promise<void> {
    try {
      await this.startComponents();
      this.running = true;
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  private async startComponents(): Promise<void> {
    const { config, logger } = this;
    const tls = new TlsMaterial({
      ...config.tls,
      expectedIdentity: { trustDomain: config.trustDomain, cluster: config.cluster },
    });
    await tls.start();
    this.started.push(tls);
    tls.onError((err) =>
      logger.error({ err: err.message }, 'TLS files changed but are unusable; keeping the loaded ones'),
    );

    const catalog = new LocalCatalog(config.services);
    this.catalog = catalog;

    const health = new LocalHealthChecker({ catalog, logger: logger.child({ component: 'health' }) });
    health.start();
    this.started.push({ close: () => Promise.resolve(health.close()) });
    const outliers = new OutlierTracker(config.failover.outlierDetection);
    const sweep = setInterval(() => outliers.sweep(), OUTLIER_SWEEP_MS);
    sweep.unref();
    this.started.push({ close: () => Promise.resolve(clearInterval(sweep)) });
    const available = (service: string, endpoint: LocalEndpoint) =>
      health.isHealthy(service, endpoint.host, endpoint.port) &&
      outliers.endpointAvailable(service, endpoint);

    const discovery = new Discovery({
      redis: config.redis,
      cluster: config.cluster,
      locality: config.locality,
      gatewayId: this.gatewayId,
      peerAddress: formatHostPort(config.advertise),
      version: WEFT_VERSION,
      ...config.discovery,
      logger: logger.child({ component: 'discovery' }),
      metrics: this.metrics,
    });
    // Once draining or closing, this gateway has left the fabric (or is about to): nothing more to publish.
    const publishLocal = () => {
      if (!this.draining && !this.closing)
        discovery.setLocalServices(exportsOf(catalog.services(), available));
    };
    // At start a set discovery refuses stops the start. Later, publishing follows catalog, health and
    // outlier changes: a refused set is logged, never thrown into their callbacks. Changes that come in
    // one turn (a service added with a health check changes the catalog, then starts its check) publish
    // once, at the end of the turn: each publish validates, compares and diffs the whole export set.
    publishLocal();
    let publishQueued = false;
    const publishQueuedChanges = () => {
      publishQueued = false;
      try {
        publishLocal();
      } catch (err) {
        if (err instanceof DiscoveryError && err.code === 'CLOSED') return;
        logger.error(
          { err },
          'local services not published; the fabric keeps the last set published. Fix the service named in the error',
        );
      }
    };
    const republish = () => {
      if (publishQueued) return;
      publishQueued = true;
      queueMicrotask(publishQueuedChanges);
    };
    catalog.subscribe(republish);

    const plane: { sources?: ReturnType<DataPlane['failoverSources']> } = {};
    const failoverMetrics = new FailoverMetrics(this.metrics, {
      endpoints: () => health.details(),
      outliers: () => outliers.state(),
      peers: () => plane.sources?.peers() ?? [],
      decisions: () => plane.sources?.decisions() ?? [],
      breakers: () => plane.sources?.breakers() ?? [],
      budgets: () => plane.sources?.budgets() ?? [],
    });
    const golden = new GoldenMetrics();
    golden.start();
    this.started.push({ close: () => Promise.resolve(golden.close()) });
    // Shown by the admin server (started and closed with it); the failover policies report into it.
    const events = new FabricEvents({
      view: discovery.view,
      observer: `${config.cluster}/${this.gatewayId}`,
      logger: logger.child({ component: 'admin' }),
    });
    const dataPlane = new DataPlane({
      config,
      golden,
      view: discovery.view,
      catalog,
      tls: tls.current(),
      metrics: this.metrics,
      logger: logger.child({ component: 'data-plane' }),
      accessLogger: logger,
      onOutcome: outliers.record,
      endpointHealthy: available,
      outliers,
      failoverMetrics,
      onFailover: (event) => events.report(fabricEventOfFailover(event)),
    });
    // At once, in the same turn as tls.current() was read above: certificate files rewritten while the
    // data plane and discovery start would otherwise be read by the watcher and told to no one.
    tls.subscribe((material) => {
      dataPlane.updateTls(material);
      logger.info(
        { serial: material.serialNumber, notAfter: material.notAfter.toISOString() },
        'TLS files reloaded: new connections use this certificate',
      );
    });
    plane.sources = dataPlane.failoverSources();
    // Closed on a failed start too: a listener bound before another one failed would keep the process
    // alive, answering local apps with discovery gone.
    this.started.push({ close: () => dataPlane.close() });
    // Health as the data plane's first rebuild (in start) reads it, or older: every change from here on is
    // named to the data plane (see healthChanged below), those made while it and discovery start included.
    let healthSeen = health.snapshot();
    await dataPlane.start();
    this.dataPlane = dataPlane;
    // Register in the fabric only once the listeners are bound: peers that learn our address can connect.
    await discovery.start();
    this.started.push(discovery);
    this.discovery = discovery;
    this.warnOfUnexportedCalls();
    const healthChanged = (snapshot: HealthSnapshot) => {
      republish();
      dataPlane.requestRefresh(snapshot.servicesChangedSince(healthSeen));
      healthSeen = snapshot;
    };
    health.subscribe(healthChanged);
    healthChanged(health.snapshot());
    const outlierLogger = logger.child({ component: 'outliers' });
    outliers.subscribe((event) => {
      logOutlierEvent(outlierLogger, event);
      failoverMetrics.outlierEvent(event);
      // The data plane follows ejections itself; an ejected endpoint changes what the cluster exports.
      if (event.scope === 'endpoint') republish();
    });

    const control = new ControlServer({
      listen: config.listen.control,
      catalog,
      view: discovery.view,
      defaultNamespace: config.defaultNamespace,
      logger: logger.child({ component: 'control' }),
    });
    await control.start();
    this.started.push(control);

    const admin = new AdminServer({
      listen: config.listen.admin,
      metrics: this.metrics,
      ready: () => discovery.synced && !this.draining,
      health: () => true,
      view: discovery.view,
      catalog,
      discoveryStatus: () => discovery.status(),
      dataPlaneState: () => dataPlane.state(),
      peerStates: () => dataPlane.peerStates(),
      events,
      identity: {
        cluster: config.cluster,
        gatewayId: this.gatewayId,
        version: WEFT_VERSION,
        locality: config.locality,
      },
      redis: config.redis,
      logger: logger.child({ component: 'admin' }),
      golden,
      leaseOf: (cluster, id) => discovery.leaseOf(cluster, id),
    });
    await admin.start();
    this.started.push(admin);

    if (config.listen.dns) {
      const dns = new MeshDnsServer({
        listen: config.listen.dns,
        zone: config.zone,
        defaultNamespace: config.defaultNamespace,
        outbound: config.listen.outbound,
        knows: (service, cluster) => knowsService(discovery, catalog, config.cluster, service, cluster),
        logger: logger.child({ component: 'mesh-dns' }),
      });
      await dns.start();
      this.started.push(dns);
    }
    if (config.dns) {
      const dnsPublisher = new FabricDnsPublisher({
        dns: config.dns,
        redis: config.redis,
        view: discovery.view,
        instanceId: `${config.cluster}/${this.gatewayId}`,
        logger: logger.child({ component: 'dns-publisher' }),
      });
      await dnsPublisher.start();
      this.started.push(dnsPublisher);
    }
    logger.info(
      {
        gatewayId: this.gatewayId,
        outbound: formatHostPort(config.listen.outbound),
      },
      'gateway started',
    );
  }

  /**
   * Re-reads the config file and applies what may change while running (config/reload-plan.ts); a
   * config that fails validation, or a tcp port that cannot be bound, is rejected whole and the running
   * config stays. Reloads run one at a time, in the order asked; none once draining has begun.
   */
  reload(): Promise<void> {
    const run = this.reloads.then(() => this.reloadNow());
    this.reloads = run.catch(() => undefined);
    return run;
  }

  private async reloadNow(): Promise<void> {
    if (this.draining) throw new GatewayError('USAGE', 'the gateway is draining: reload ignored');
    if (!this.running) {
      throw new GatewayError(
        'USAGE',
        'the gateway is still starting: reload once it has logged "gateway started"',
      );
    }
    const plan = planReload(this.config, await loadConfigFile(this.config.source));
    if (plan.restartNeeded.length > 0) {
      this.logger.warn(
        { fields: plan.restartNeeded },
        'these config changes take effect only after a restart; the running values stay until then',
      );
    }
    await this.dataPlane?.updateConfig(plan.config);
    this.catalog?.replaceConfigServices(plan.config.services);
    this.config = plan.config;
    this.logger.info({ source: plan.config.source }, 'config reloaded');
    this.warnOfUnexportedCalls();
  }

  /**
   * Names the `calls[]` entries for services that no cluster exports, once discovery has synced: their
   * settings apply only once one does, and a misspelt name would otherwise never be noticed.
   */
  private warnOfUnexportedCalls(): void {
    const { discovery, catalog, config } = this;
    if (!discovery?.synced || !catalog) return;
    const unexported = config.calls
      .map((call) => call.key)
      .filter((service) => !knowsService(discovery, catalog, config.cluster, service, undefined));
    if (unexported.length === 0) return;
    this.logger.warn(
      { services: unexported },
      'calls[] names services that no cluster exports now: their settings apply once one does. Check the names (name.namespace) against weft status',
    );
  }

  /**
   * Leaves the fabric, stops taking new work, lets in-flight requests finish within drainTimeout, then
   * closes. The lease ends first (discovery leaves), so peers, the DNS publisher and `weft status` see
   * this gateway go at once and send new requests elsewhere while the ones in flight finish here.
   */
  async drainAndClose(): Promise<void> {
    this.draining = true;
    await this.reloads;
    await this.discovery?.leave();
    await this.dataPlane?.drain(this.config.drainTimeoutMs);
    await this.close();
  }

  /** Closes every started component in reverse order; idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const component of this.started.reverse()) {
        try {
          await component.close();
        } catch (err) {
          this.logger.warn({ err }, 'error while closing a component');
        }
      }
    })();
    return this.closing;
  }
}

/** How often ejected endpoints are considered for return (ejections end only on a sweep). */
const OUTLIER_SWEEP_MS = 250;

function knowsService(
  discovery: Discovery,
  catalog: LocalCatalog,
  localCluster: string,
  service: string,
  cluster: string | undefined,
): boolean {
  if ((cluster === undefined || cluster === localCluster) && catalog.services().has(service)) return true;
  const clusters = discovery.view.snapshot().clusters;
  if (cluster !== undefined) return clusters.get(cluster)?.services.has(service) ?? false;
  for (const view of clusters.values()) if (view.services.has(service)) return true;
  return false;
}
