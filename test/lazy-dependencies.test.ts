// The gateway's module graph leaves the heavy, rarely used libraries unloaded: the Route 53 SDK (only
// when a Route 53 publisher makes its first request), @peculiar/x509 with reflect-metadata (only when
// certificates are issued) and the OpenTelemetry SDK and OTLP exporter (only when observability.tracing
// is configured). A child process imports the gateway with a resolve hook that refuses those packages,
// so an eager import anywhere in the graph fails the import; the hook sees only ES module imports, so
// the child also lists the packages CommonJS code required (a library's own require() of one of them);
// controls then show each lazy path does reach the hook. @opentelemetry/api is not among them:
// prom-client 15 requires it (for exemplars) whenever it loads, so every gateway carries the API
// package, but not the SDK.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const HEAVY = [
  '@aws-sdk/client-route-53',
  '@peculiar/x509',
  'reflect-metadata',
  'tsyringe',
  '@opentelemetry/core',
  '@opentelemetry/resources',
  '@opentelemetry/sdk-trace-base',
  '@opentelemetry/exporter-trace-otlp-http',
];

const HOOK = `
const heavy = new Set(${JSON.stringify(HEAVY)});
export async function resolve(specifier, context, next) {
  if (heavy.has(specifier)) throw new Error('refused eager import of ' + specifier);
  return next(specifier, context);
}
`;

function childScript(hookUrl: string): string {
  const root = pathToFileURL(process.cwd()).href;
  return `
import { createRequire, register } from 'node:module';
register(${JSON.stringify(hookUrl)});
await import(${JSON.stringify(`${root}/gateway/gateway.ts`)});
const heavy = ${JSON.stringify(HEAVY)};
const required = Object.keys(createRequire(import.meta.url).cache)
  .flatMap((file) => heavy.filter((name) => file.includes('/node_modules/' + name + '/')));
console.log('required: ' + [...new Set(required)].join(' '));
const infra = await import(${JSON.stringify(`${root}/infra/index.ts`)});
const provider = new infra.Route53Provider({ hostedZoneId: 'Z0123456789ABC', zone: 'example.com' });
await provider.close();
let control = 'loaded';
try { await import('@aws-sdk/client-route-53'); } catch (err) { control = String(err.message); }
console.log('control: ' + control);
const observability = await import(${JSON.stringify(`${root}/gateway/observability/index.ts`)});
let tracing = 'loaded';
try {
  await observability.loadSpanExport({ otlpEndpoint: 'http://127.0.0.1:1/v1/traces', serviceName: 'x' }, 'a', undefined);
} catch (err) {
  tracing = String(err.message);
}
console.log('tracing: ' + tracing);
`;
}

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runNode(args: readonly string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

test('importing the gateway loads neither the Route 53 SDK, @peculiar/x509 nor OpenTelemetry', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-lazy-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const hook = join(dir, 'refuse-heavy.mjs');
  await writeFile(hook, HOOK);
  const run = await runNode([
    '--import',
    'tsx',
    '--input-type=module',
    '-e',
    childScript(pathToFileURL(hook).href),
  ]);
  assert.equal(run.status, 0, `child failed:\n${run.stderr}`);
  assert.match(run.stdout, /^required: $/m, 'a library required a heavy package while the gateway loaded');
  // The hook really refuses: the control import after the gateway was loaded is rejected by it.
  assert.match(run.stdout, /control: refused eager import of @aws-sdk\/client-route-53/);
  // Span export loads the SDK only when asked to, through the hook.
  assert.match(run.stdout, /tracing: refused eager import of @opentelemetry\//);
});
