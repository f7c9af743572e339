// The dashboard in real headless Chromium against the real demo fabric (three gateway processes on
// 127.0.1.1, 127.0.2.1, 127.0.3.1): the page draws every cloud, cluster and service and the peer link a
// cross-cluster call opened, loads nothing but the gateway's own origin, and — after gcp-euw1's gateway
// is SIGKILLed — shows that cluster stale and the event that says why, without a reload.
// Saves test-artifacts/dashboard.png.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Page } from 'playwright-core';
import { httpGet } from '../gateway/demo/demo-calls.js';
import { DemoFabric } from '../gateway/demo/demo-fabric.js';
import { fromPackageRoot } from '../gateway/package-root.js';
import { within } from './helpers/wait.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

function clusterCard(cluster: string, freshness: 'live' | 'stale'): string {
  return `#map g.cluster[data-cluster="${cluster}"][data-freshness="${freshness}"]`;
}

async function texts(page: Page, selector: string): Promise<string[]> {
  return page.locator(selector).allTextContents();
}

test(
  'the dashboard renders the demo fabric and shows a killed gateway stale without a reload',
  { timeout: 150_000 },
  async (t) => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium`);
    const fabric = new DemoFabric({ entry: fromPackageRoot('gateway/cli/main.ts') });
    t.after(() => fabric.close());
    await fabric.start();
    const entry = fabric.gateway('aws-use1');

    // A call pinned to gcp-euw1 crosses clouds over mTLS: aws-use1 gets a peer link to report.
    const reply = await within('a cross-cloud call through aws-use1', 20_000, async () => {
      const r = await httpGet(entry.outbound, 'gcp-euw1.hello.default.svc.clusterset.local');
      return r.status === 200 ? r : undefined;
    });
    assert.match(reply.body, /gcp-euw1/);

    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    t.after(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const origin = new URL(entry.admin).origin;
    const foreign: string[] = [];
    page.on('request', (request) => {
      if (new URL(request.url()).origin !== origin) foreign.push(request.url());
    });
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));

    const response = await page.goto(`${entry.admin}/`);
    assert.equal(response?.status(), 200);
    assert.ok(
      Number((await response?.headerValue('content-length')) ?? (await response?.body())?.length) < 60_000,
      'the page is small',
    );

    for (const cluster of ['aws-use1', 'gcp-euw1', 'azure-weu']) {
      await page.waitForSelector(clusterCard(cluster, 'live'), { timeout: 20_000 });
    }
    assert.deepEqual((await texts(page, '#map g.cloud text.cloud-label')).sort(), ['aws', 'azure', 'gcp']);
    assert.deepEqual(await texts(page, '#map g.cluster[data-cluster="gcp-euw1"] text[data-service]'), [
      'greeter.default grpc 1/1',
      'hello.default http 1/1',
    ]);
    assert.equal(
      await page
        .locator('#map g.cluster[data-cluster="aws-use1"] text[data-service="hello.default"]')
        .count(),
      1,
    );
    assert.equal(
      await page
        .locator('#map g.cluster[data-cluster="azure-weu"] text[data-service="echo.default"]')
        .count(),
      1,
    );
    assert.match(await page.locator('#whoami').innerText(), /^aws-use1\//);
    // The link aws-use1 → gcp-euw1 that the call opened, with a measured RTT once pings ran.
    await page.waitForSelector('#map line.link.up[data-link="aws-use1|gcp-euw1"]', { timeout: 15_000 });
    await page.waitForSelector('#links tr[data-state="up"]', { timeout: 5_000 });
    assert.equal(await page.locator('#live').getAttribute('data-state'), 'live');

    const killedAt = Date.now();
    fabric.gateway('gcp-euw1').process.kill();
    await page.waitForSelector(clusterCard('gcp-euw1', 'stale'), { timeout: 20_000 });
    const staleAfterMs = Date.now() - killedAt;
    console.log(`# dashboard showed gcp-euw1 stale ${staleAfterMs} ms after its gateway was killed`);
    await page.waitForSelector('#clusters tr[data-cluster="gcp-euw1"][data-freshness="stale"]', {
      timeout: 5_000,
    });
    await page.waitForSelector('#events li[data-kind="cluster-stale"][data-cluster="gcp-euw1"]', {
      timeout: 5_000,
    });
    const why = await page
      .locator('#events li[data-kind="cluster-stale"][data-cluster="gcp-euw1"]')
      .first()
      .innerText();
    assert.match(why, /lease/);
    await page.waitForSelector('#map line.link.down[data-link="aws-use1|gcp-euw1"]', { timeout: 5_000 });
    // The other clusters stay live.
    assert.equal(await page.locator(clusterCard('aws-use1', 'live')).count(), 1);
    assert.equal(await page.locator(clusterCard('azure-weu', 'live')).count(), 1);

    mkdirSync(fromPackageRoot('test-artifacts'), { recursive: true });
    await page.screenshot({ path: fromPackageRoot('test-artifacts/dashboard.png'), fullPage: true });
    assert.deepEqual(foreign, [], 'the page loads nothing from outside the gateway');
    assert.deepEqual(pageErrors, []);
  },
);
