import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseServiceName, qualifiedName } from '../gateway/routing/service-name.js';

const scope = { zone: 'clusterset.local', defaultNamespace: 'default' };

test('service names: every form of DESIGN.md parses, anything else is not ours', () => {
  const cases: [string, ReturnType<typeof parseServiceName>][] = [
    ['hello.default.svc.clusterset.local', { service: 'hello.default' }],
    ['Hello.Default.SVC.clusterset.local.', { service: 'hello.default' }],
    ['hello.default.svc.clusterset.local:4140', { service: 'hello.default' }],
    ['aws-use1.hello.default.svc.clusterset.local', { service: 'hello.default', cluster: 'aws-use1' }],
    ['hello', { service: 'hello.default' }],
    ['hello:8080', { service: 'hello.default' }],
    ['hello:', { service: 'hello.default' }],
    ['hello:abc', undefined],
    ['hello:80:80', undefined],
    ['hello: 80', undefined],
    ['hello.shop', { service: 'hello.shop' }],
    ['a.b.c.d.svc.clusterset.local', undefined],
    ['hello.default.svc.other.zone', undefined],
    ['example.com.evil', undefined],
    ['', undefined],
    ['hel_lo', undefined],
    ['[::1]:4140', undefined],
    ['-bad.default', undefined],
  ];
  for (const [host, expected] of cases) assert.deepEqual(parseServiceName(host, scope), expected, host);
});

test('qualified names round-trip through the parser', () => {
  assert.equal(qualifiedName('hello.default', 'clusterset.local'), 'hello.default.svc.clusterset.local');
  const pinned = qualifiedName('hello.default', 'clusterset.local', 'gcp-euw1');
  assert.deepEqual(parseServiceName(pinned, scope), { service: 'hello.default', cluster: 'gcp-euw1' });
});
