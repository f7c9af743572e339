// Republishing thousands of local services after one changes: exportsOf keeps the export objects of
// unchanged services, and discovery's local exports neither validate nor encode those again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LocalExports } from '../discovery/local-exports.js';
import type { ServiceExport } from '../discovery/index.js';
import { exportsOf, LocalCatalog } from '../gateway/catalog/index.js';
import { parseTestConfig } from './helpers/gateway-config.js';

const options = {
  cluster: 'a',
  gatewayId: 'gw-1',
  peerAddress: '127.0.0.1:4143',
  locality: { cloud: 'aws', region: 'r1' },
  version: 'test',
} as ConstructorParameters<typeof LocalExports>[0];

test('an unchanged service keeps its export object; one whose health changed gets a new one', () => {
  const catalog = new LocalCatalog(
    parseTestConfig([
      { name: 'one', endpoints: ['127.0.0.1:8001', '127.0.0.1:8002'] },
      { name: 'two', endpoints: ['127.0.0.1:8003'] },
    ]).services,
  );
  let down = '';
  const available = (_service: string, e: { port: number }) => `127.0.0.1:${e.port}` !== down;
  const [one, two] = exportsOf(catalog.services(), available);
  assert.ok(Object.isFrozen(one) && Object.isFrozen(one?.endpoints));
  down = '127.0.0.1:8002';
  const [oneAfter, twoAfter] = exportsOf(catalog.services(), available);
  assert.equal(twoAfter, two);
  assert.notEqual(oneAfter, one);
  assert.deepEqual(oneAfter?.endpoints, { total: 2, healthy: 1 });
});

test('local exports take an export set before as accepted, and only when nothing of it can change', () => {
  const local = new LocalExports(options, 1);
  const frozen: ServiceExport = Object.freeze({
    name: 'one',
    namespace: 'default',
    key: 'one.default',
    protocol: 'http',
    allow: null,
    endpoints: Object.freeze({ total: 1, healthy: 1 }),
  });
  const open: ServiceExport = {
    ...frozen,
    name: 'two',
    key: 'two.default',
    endpoints: { total: 1, healthy: 1 },
  };
  assert.equal(local.accepted(frozen), false);
  assert.equal(local.set([frozen, open]), true);
  assert.equal(local.accepted(frozen), true);
  assert.equal(local.accepted(open), false, 'its endpoints could still change');
  assert.equal(local.set([frozen, open]), false, 'the same set again');
  const changed = Object.freeze({ ...frozen, endpoints: Object.freeze({ total: 1, healthy: 0 }) });
  assert.equal(local.set([changed, open]), true);
  assert.match(local.desired.get('one.default') ?? '', /"healthy":0/);
});
