// W3C traceparent: valid headers are read and continued with a new parent id, invalid ones are
// replaced by a new trace (table-driven), ids are well-formed and distinct.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatTraceparent,
  forwardTraceparent,
  isSampledTraceparent,
  newSpanId,
  newTraceId,
  parseTraceparent,
  RateSampler,
} from '../gateway/observability/index.js';

const VALID = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

test('a valid traceparent is parsed and formats back to itself', () => {
  const context = parseTraceparent(VALID);
  assert.deepEqual(context, {
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    parentId: '00f067aa0ba902b7',
    flags: 1,
  });
  assert.equal(formatTraceparent(context), VALID);
});

test('invalid traceparent values are rejected', () => {
  const cases: [string, string | undefined][] = [
    ['absent', undefined],
    ['empty', ''],
    ['too short', VALID.slice(0, 54)],
    ['version 00 with trailing data', `${VALID}-extra`],
    ['upper-case hex', VALID.toUpperCase()],
    ['non-hex trace id', '00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01'],
    ['all-zero trace id', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`],
    ['all-zero parent id', `00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01`],
    ['version ff', VALID.replace(/^00/, 'ff')],
    ['wrong separators', VALID.replaceAll('-', '_')],
    ['future version glued to more data', `01${VALID.slice(2)}x`],
  ];
  for (const [what, value] of cases) assert.equal(parseTraceparent(value), undefined, what);
});

test('a future version is read by its version-00 prefix', () => {
  assert.equal(parseTraceparent(`01${VALID.slice(2)}-more`)?.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
});

test('forwarding keeps the trace id and flags and replaces the parent id; bad input starts a trace', () => {
  const forwarded = parseTraceparent(forwardTraceparent(VALID));
  assert.equal(forwarded?.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  assert.equal(forwarded?.flags, 1);
  assert.notEqual(forwarded?.parentId, '00f067aa0ba902b7');
  for (const input of [undefined, 'garbage']) {
    const fresh = parseTraceparent(forwardTraceparent(input));
    assert.ok(fresh, `a valid new trace for ${String(input)}`);
    assert.equal(fresh.flags, 0);
  }
});

test('a new trace is sampled as the sampler says; a continued one keeps its flags; higher versions go out as 00', () => {
  const half = new RateSampler(0.5);
  const started = Array.from({ length: 10 }, () => forwardTraceparent(undefined, half));
  assert.equal(started.filter(isSampledTraceparent).length, 5);
  assert.equal(forwardTraceparent(undefined, new RateSampler(1)).slice(-3), '-01');
  const unsampled = `00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00`;
  assert.equal(
    forwardTraceparent(unsampled, new RateSampler(1)).slice(-3),
    '-00',
    "the caller's decision stands",
  );
  assert.ok(isSampledTraceparent(VALID));
  assert.ok(!isSampledTraceparent(unsampled));
  assert.ok(isSampledTraceparent(VALID.replace(/01$/, '0b')), 'bit 0 of a flags byte with other bits set');
  assert.ok(!isSampledTraceparent(VALID.replace(/01$/, 'fe')));
  const future = forwardTraceparent(`01${VALID.slice(2)}-more`);
  assert.match(future, /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
  assert.equal(
    forwardTraceparent(`  ${VALID} `).slice(0, 36),
    VALID.slice(0, 36),
    'surrounding spaces are trimmed',
  );
});

test('generated ids are lower-case hex of the right length and do not repeat', () => {
  const spans = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const span = newSpanId();
    assert.match(span, /^[0-9a-f]{16}$/);
    spans.add(span);
  }
  assert.equal(spans.size, 2000);
  assert.match(newTraceId(), /^[0-9a-f]{32}$/);
});
