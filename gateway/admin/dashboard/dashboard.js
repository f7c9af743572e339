/* global document, EventSource, window */
// The weft dashboard: renders the fabric picture that /api/v1/events pushes (server-sent events, one
// `fabric` message per second). No framework and no network access beyond this gateway. Every value
// from the server is inserted as text, never as HTML: stats records come from other gateways.
'use strict';

const SVG_NS = 'http://www.w3.org/2000/svg';
const CARD_W = 210;
const CLOUD_COLORS = { aws: '#e8891c', gcp: '#3b7ddd', azure: '#0aa0c8', onprem: '#7a5bd1' };

function setAttrs(node, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    node.setAttribute(key, String(value));
  }
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
  return node;
}

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  return append(node, children);
}

function s(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttrs(node, attrs);
  return append(node, children);
}

function fmtMs(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

function fmtRps(rps) {
  if (rps >= 100) return String(Math.round(rps));
  if (rps >= 10) return rps.toFixed(1);
  return rps.toFixed(2);
}

function fmtPct(ratio) {
  return `${(ratio * 100).toFixed(ratio === 1 ? 0 : 1)}%`;
}

function fmtAge(ms) {
  if (ms === null || ms === undefined) return '–';
  const abs = Math.abs(ms);
  if (abs < 10000) return `${(abs / 1000).toFixed(1)}s`;
  if (abs < 3600000) return `${Math.round(abs / 1000)}s`;
  return `${Math.round(abs / 60000)}m`;
}

function fmtClock(at) {
  const d = new Date(at);
  return d.toTimeString().slice(0, 8);
}

function cloudColor(cloud) {
  if (CLOUD_COLORS[cloud]) return CLOUD_COLORS[cloud];
  let hash = 0;
  for (const c of cloud) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  return `hsl(${hash % 360}, 55%, 48%)`;
}

function successClass(rate) {
  if (rate >= 0.99) return '';
  return rate >= 0.95 ? 'degraded' : 'failing';
}

function cardHeight(cluster) {
  return 96 + 16 * Math.max(1, cluster.services.length);
}

/** Clusters on an ellipse, grouped by cloud; returns name → {x, y, w, h} (centre and size). */
function layout(clusters) {
  const ordered = [...clusters].sort(
    (a, b) => a.cloud.localeCompare(b.cloud) || a.name.localeCompare(b.name),
  );
  const n = ordered.length;
  const rx = Math.max(260, n * 55);
  const ry = Math.max(150, n * 32);
  const tallest = Math.max(120, ...ordered.map(cardHeight));
  const width = 2 * rx + CARD_W + 60;
  const height = 2 * ry + tallest + 70;
  const cx = width / 2;
  const cy = height / 2 + 10;
  const boxes = new Map();
  ordered.forEach((cluster, i) => {
    const angle = n === 1 ? -Math.PI / 2 : -Math.PI / 2 + (2 * Math.PI * i) / n;
    const x = n === 1 ? cx : cx + rx * Math.cos(angle);
    const y = n === 1 ? cy : cy + ry * Math.sin(angle);
    boxes.set(cluster.name, { x, y, w: CARD_W, h: cardHeight(cluster), cluster });
  });
  return { width, height, boxes };
}

/** Where the segment from the centre of `box` towards (tx, ty) leaves the box. */
function boundary(box, tx, ty, pad) {
  const dx = tx - box.x;
  const dy = ty - box.y;
  if (dx === 0 && dy === 0) return { x: box.x, y: box.y };
  const scale = Math.min(
    dx === 0 ? Infinity : (box.w / 2 + pad) / Math.abs(dx),
    dy === 0 ? Infinity : (box.h / 2 + pad) / Math.abs(dy),
  );
  return { x: box.x + dx * scale, y: box.y + dy * scale };
}

function labelAt(x, y, text, cls) {
  const width = text.length * 6.2 + 8;
  return s(
    'g',
    { class: cls || '' },
    s('rect', { class: 'label-bg', x: x - width / 2, y: y - 9, width, height: 16, rx: 3 }),
    s('text', { class: 'label', x, y: y + 3, 'text-anchor': 'middle' }, text),
  );
}

function linkState(link) {
  if (!link.up) return 'down';
  return link.connected ? 'up' : 'idle';
}

function clusterLinks(picture) {
  // Gateway-level links folded per cluster pair (either direction): down if any is down or either
  // cluster is stale, up if any is connected, else idle (known, not connected yet); the lowest RTT.
  const stale = new Set(picture.clusters.filter((c) => c.freshness !== 'live').map((c) => c.name));
  const pairs = new Map();
  for (const link of picture.links) {
    if (link.fromCluster === link.toCluster) continue;
    const [a, b] = [link.fromCluster, link.toCluster].sort();
    const key = `${a}|${b}`;
    const found = pairs.get(key) || { a, b, down: false, connected: false, rtt: null };
    const state = linkState(link);
    found.down = found.down || state === 'down';
    found.connected = found.connected || state === 'up';
    if (link.rttMs !== null && (found.rtt === null || link.rttMs < found.rtt)) found.rtt = link.rttMs;
    pairs.set(key, found);
  }
  return [...pairs.values()].map((p) => {
    const staleEnd = stale.has(p.a) ? p.a : stale.has(p.b) ? p.b : null;
    const state = staleEnd || p.down ? 'down' : p.connected ? 'up' : 'idle';
    return { ...p, state, staleEnd };
  });
}

function clusterTraffic(picture) {
  const pairs = new Map();
  for (const edge of picture.edges) {
    const key = `${edge.source}|${edge.destination}`;
    const found = pairs.get(key) || {
      source: edge.source,
      destination: edge.destination,
      rps: 0,
      requests: 0,
      ok: 0,
      p99: 0,
    };
    found.rps += edge.rps;
    found.requests += edge.requests;
    found.ok += edge.successRate * edge.requests;
    found.p99 = Math.max(found.p99, edge.p99Ms);
    pairs.set(key, found);
  }
  return [...pairs.values()].map((p) => ({ ...p, success: p.requests ? p.ok / p.requests : 1 }));
}

function renderMap(picture) {
  const map = document.getElementById('map');
  const { width, height, boxes } = layout(picture.clusters);
  map.setAttribute('viewBox', `0 0 ${Math.round(width)} ${Math.round(height)}`);
  const layers = {
    clouds: s('g', { class: 'clouds' }),
    links: s('g', { class: 'links' }),
    traffic: s('g', { class: 'traffic-layer' }),
    cards: s('g', { class: 'cards' }),
    labels: s('g', { class: 'labels' }),
  };
  const defs = s(
    'defs',
    {},
    ['ok', 'degraded', 'failing'].map((kind) =>
      s(
        'marker',
        {
          id: `arrow-${kind}`,
          viewBox: '0 0 10 10',
          refX: 9,
          refY: 5,
          markerWidth: 7,
          markerHeight: 7,
          orient: 'auto-start-reverse',
        },
        s('path', {
          d: 'M0,0 L10,5 L0,10 z',
          fill: kind === 'ok' ? '#3867d6' : kind === 'degraded' ? '#d98b1c' : '#d64545',
        }),
      ),
    ),
  );

  // One frame per cloud around its clusters' cards.
  const clouds = new Map();
  for (const box of boxes.values()) {
    const list = clouds.get(box.cluster.cloud) || [];
    list.push(box);
    clouds.set(box.cluster.cloud, list);
  }
  for (const [cloud, list] of clouds) {
    const pad = 12;
    const x0 = Math.min(...list.map((b) => b.x - b.w / 2)) - pad;
    const y0 = Math.min(...list.map((b) => b.y - b.h / 2)) - pad - 16;
    const x1 = Math.max(...list.map((b) => b.x + b.w / 2)) + pad;
    const y1 = Math.max(...list.map((b) => b.y + b.h / 2)) + pad;
    const color = cloudColor(cloud);
    layers.clouds.append(
      s(
        'g',
        { class: 'cloud', 'data-cloud': cloud },
        s('rect', {
          class: 'cloud-frame',
          x: x0,
          y: y0,
          width: x1 - x0,
          height: y1 - y0,
          rx: 14,
          fill: color,
          stroke: color,
        }),
        s('text', { class: 'cloud-label', x: x0 + 10, y: y0 + 13, fill: color }, cloud),
      ),
    );
  }

  for (const link of clusterLinks(picture)) {
    const a = boxes.get(link.a);
    const b = boxes.get(link.b);
    if (!a || !b) continue;
    const p = boundary(a, b.x, b.y, 2);
    const q = boundary(b, a.x, a.y, 2);
    layers.links.append(
      s('line', {
        class: `link ${link.state}`,
        'data-link': `${link.a}|${link.b}`,
        'data-state': link.state,
        x1: p.x,
        y1: p.y,
        x2: q.x,
        y2: q.y,
      }),
    );
    const text =
      link.state === 'down'
        ? link.staleEnd
          ? `down: ${link.staleEnd} stale`
          : 'link down'
        : link.state === 'idle'
          ? 'idle'
          : link.rtt === null
            ? 'mTLS up'
            : `rtt ${fmtMs(link.rtt)}`;
    layers.labels.append(labelAt((p.x + q.x) / 2, (p.y + q.y) / 2, text));
  }

  for (const flow of clusterTraffic(picture)) {
    const from = boxes.get(flow.source);
    const to = boxes.get(flow.destination);
    if (!from || !to || flow.source === flow.destination) continue;
    const p = boundary(from, to.x, to.y, 6);
    const q = boundary(to, from.x, from.y, 6);
    const dx = q.x - p.x;
    const dy = q.y - p.y;
    const len = Math.hypot(dx, dy) || 1;
    // Bend to the right of the direction of travel, so A→B and B→A do not overlap.
    const bend = Math.min(38, len * 0.3);
    const cx = (p.x + q.x) / 2 + (dy / len) * bend;
    const cy = (p.y + q.y) / 2 - (dx / len) * bend;
    const quality = successClass(flow.success);
    layers.traffic.append(
      s('path', {
        class: `traffic ${quality}`,
        'data-edge': `${flow.source}>${flow.destination}`,
        d: `M${p.x},${p.y} Q${cx},${cy} ${q.x},${q.y}`,
        'stroke-width': Math.min(8, 1.5 + Math.log10(1 + flow.rps) * 2),
        'marker-end': `url(#arrow-${quality || 'ok'})`,
      }),
    );
    // The label sits beside the curve's midpoint, away from the link's own label on the chord.
    const mx = 0.25 * p.x + 0.5 * cx + 0.25 * q.x + (dy / len) * 14;
    const my = 0.25 * p.y + 0.5 * cy + 0.25 * q.y - (dx / len) * 14;
    layers.labels.append(
      labelAt(mx, my, `${fmtRps(flow.rps)} rps · ${fmtPct(flow.success)} · p99 ${fmtMs(flow.p99)}`),
    );
  }

  const localTraffic = new Map(
    clusterTraffic(picture)
      .filter((f) => f.source === f.destination)
      .map((f) => [f.source, f]),
  );
  for (const box of boxes.values()) layers.cards.append(card(box, localTraffic.get(box.cluster.name)));

  map.replaceChildren(defs, layers.clouds, layers.links, layers.traffic, layers.cards, layers.labels);
}

function card(box, local) {
  const c = box.cluster;
  const left = box.x - box.w / 2;
  const top = box.y - box.h / 2;
  const g = s('g', {
    class: `cluster${c.local ? ' local' : ''}`,
    'data-cluster': c.name,
    'data-freshness': c.freshness,
  });
  g.append(s('rect', { class: 'card', x: left, y: top, width: box.w, height: box.h, rx: 8 }));
  g.append(s('text', { class: 'title', x: left + 10, y: top + 20 }, c.name));
  g.append(
    s(
      'text',
      { class: 'small', x: left + 10, y: top + 36 },
      `${c.cloud} · ${c.region}${c.zone ? ` · ${c.zone}` : ''}${c.local ? ' · this gateway' : ''}`,
    ),
  );
  const state =
    c.freshness === 'live' ? 'LIVE' : `STALE ${c.staleForMs === null ? '' : fmtAge(c.staleForMs)}`;
  g.append(
    s(
      'text',
      { class: c.freshness === 'live' ? 'state-live' : 'state-stale', x: left + 10, y: top + 54 },
      state,
      local ? ` · local ${fmtRps(local.rps)} rps · ${fmtPct(local.success)}` : '',
    ),
  );
  let x = left + 10;
  for (const gw of c.gateways.slice(0, 6)) {
    const color = gw.freshness === 'live' ? '#1f9d55' : '#d64545';
    g.append(
      s(
        'circle',
        { cx: x + 5, cy: top + 67, r: 5, fill: color, 'data-gateway': gw.id },
        s('title', {}, `${gw.id} ${gw.peerAddress} ${gw.freshness}`),
      ),
    );
    x += 14;
  }
  g.append(
    s(
      'text',
      { class: 'small', x: x + 2, y: top + 71 },
      `${c.gateways.length} gateway${c.gateways.length === 1 ? '' : 's'}`,
    ),
  );
  if (c.services.length === 0) {
    g.append(s('text', { class: 'small', x: left + 10, y: top + 92 }, 'no services'));
  }
  c.services.forEach((svc, i) => {
    const healthy = svc.endpoints.healthy === null ? '?' : svc.endpoints.healthy;
    g.append(
      s(
        'text',
        { x: left + 10, y: top + 92 + 16 * i, 'font-size': 12, 'data-service': svc.service },
        `${svc.service} `,
        s('tspan', { class: 'small' }, `${svc.protocol} ${healthy}/${svc.endpoints.total}`),
      ),
    );
  });
  return g;
}

function renderEvents(picture) {
  const list = document.getElementById('events');
  if (picture.events.length === 0) {
    list.replaceChildren(h('li', { class: 'dim' }, 'no failover or fabric events yet'));
    return;
  }
  list.replaceChildren(
    ...picture.events.map((e) => {
      const subject = [e.service, e.cluster].filter(Boolean).join(' @ ');
      const move =
        e.kind === 'failover' || e.kind === 'failback'
          ? ` ${e.from || 'nowhere'} → ${e.to || 'nowhere'}`
          : '';
      return h(
        'li',
        { 'data-kind': e.kind, 'data-cluster': e.cluster || '', 'data-service': e.service || '' },
        h('span', { class: 'when' }, fmtClock(e.at)),
        h('span', { class: `badge ${e.kind}` }, e.kind),
        ` ${subject}${move}`,
        h('span', { class: 'why' }, e.reason),
        h('span', { class: 'dim' }, `seen by ${e.observers.join(', ')}`),
      );
    }),
  );
}

function emptyRow(columns, text) {
  return h('tr', { class: 'empty' }, h('td', { colspan: columns }, text));
}

function renderEdges(picture) {
  const body = document.querySelector('#edges tbody');
  document.getElementById('window').textContent = `— last ${fmtAge(picture.windowMs)}`;
  if (picture.edges.length === 0) {
    body.replaceChildren(emptyRow(9, 'no traffic in the window'));
    return;
  }
  body.replaceChildren(
    ...picture.edges.map((e) =>
      h(
        'tr',
        { 'data-edge': `${e.source}>${e.service}>${e.destination}` },
        h('td', {}, e.source),
        h('td', {}, e.service),
        h('td', {}, e.destination),
        h('td', { class: 'num' }, fmtRps(e.rps)),
        h('td', { class: 'num' }, fmtPct(e.successRate)),
        h('td', { class: 'num' }, fmtMs(e.p50Ms)),
        h('td', { class: 'num' }, fmtMs(e.p95Ms)),
        h('td', { class: 'num' }, fmtMs(e.p99Ms)),
        h('td', { class: 'dim' }, e.reportedBy.join(', ')),
      ),
    ),
  );
}

function leaseText(gateway) {
  const left = gateway.leaseRemainingMs;
  if (left === null) return '';
  if (left >= 0) return ` (${fmtAge(left)})`;
  // A live gateway's lease end as last read may lag its heartbeats: freshness is what counts.
  return gateway.freshness === 'live' ? '' : ` (expired ${fmtAge(left)} ago)`;
}

function renderClusters(picture) {
  const body = document.querySelector('#clusters tbody');
  const rows = picture.clusters.map((c) =>
    h(
      'tr',
      { 'data-cluster': c.name, 'data-freshness': c.freshness },
      h('td', {}, c.local ? `${c.name} (this gateway)` : c.name),
      h('td', {}, `${c.cloud} / ${c.region}${c.zone ? ` / ${c.zone}` : ''}`),
      h(
        'td',
        {},
        h('span', { class: `badge ${c.freshness}` }, c.freshness),
        c.staleForMs === null ? '' : ` for ${fmtAge(c.staleForMs)}`,
      ),
      h(
        'td',
        {},
        c.gateways.length === 0
          ? '–'
          : c.gateways
              .map((g) => `${g.id} ${g.freshness}${leaseText(g)}${g.reporting ? '' : ' · no stats'}`)
              .join('; '),
      ),
      h(
        'td',
        {},
        c.services
          .map(
            (svc) =>
              `${svc.service} ${svc.endpoints.healthy === null ? '?' : svc.endpoints.healthy}/${svc.endpoints.total}`,
          )
          .join(', ') || '–',
      ),
    ),
  );
  for (const e of picture.evicted) {
    rows.push(
      h(
        'tr',
        { 'data-cluster': e.name, 'data-freshness': 'evicted' },
        h('td', {}, e.name),
        h('td', {}, '–'),
        h('td', {}, h('span', { class: 'badge cluster-evicted' }, 'evicted'), ` at ${fmtClock(e.at)}`),
        h('td', {}, '–'),
        h('td', {}, '–'),
      ),
    );
  }
  body.replaceChildren(...rows);
}

function renderLinks(picture) {
  const body = document.querySelector('#links tbody');
  if (picture.links.length === 0) {
    body.replaceChildren(
      emptyRow(5, 'no peer connections reported yet (they open with the first cross-cluster request)'),
    );
    return;
  }
  body.replaceChildren(
    ...picture.links.map((l) => {
      const state = linkState(l);
      return h(
        'tr',
        {
          'data-link': `${l.fromCluster}/${l.fromGateway}>${l.toCluster}/${l.toGateway}`,
          'data-state': state,
        },
        h('td', {}, `${l.fromCluster}/${l.fromGateway}`),
        h('td', {}, `${l.toCluster}/${l.toGateway}`),
        h('td', {}, h('span', { class: `badge ${state}` }, state)),
        h('td', { class: 'num' }, fmtMs(l.rttMs)),
        h('td', { class: 'dim' }, l.error || (state === 'idle' ? 'no connection open yet' : '')),
      );
    }),
  );
}

function renderHeader(picture) {
  const g = picture.gateway;
  document.getElementById('whoami').textContent =
    `${g.cluster}/${g.gatewayId} · ${g.locality.cloud}/${g.locality.region} · weft ${g.version}`;
  const d = picture.discovery;
  const age = d.snapshotAgeMs === null ? 'never synced' : `snapshot ${fmtAge(d.snapshotAgeMs)} old`;
  document.getElementById('discovery').textContent = d.connected
    ? `discovery connected · rev ${d.revision} · ${age}`
    : `DISCOVERY DISCONNECTED — routing on the ${d.source} snapshot · ${age}`;
}

function render(picture) {
  renderHeader(picture);
  renderMap(picture);
  renderEvents(picture);
  renderEdges(picture);
  renderClusters(picture);
  renderLinks(picture);
  document.body.dataset.renderedAt = String(picture.at);
}

function setLive(state, text) {
  const pill = document.getElementById('live');
  pill.dataset.state = state;
  pill.textContent = text;
}

function connect() {
  const source = new EventSource('api/v1/events');
  source.addEventListener('fabric', (message) => {
    setLive('live', 'live');
    try {
      render(JSON.parse(message.data));
    } catch (err) {
      setLive('reconnecting', `render error: ${err.message}`);
    }
  });
  source.onerror = () => setLive('reconnecting', 'reconnecting…');
  window.addEventListener('beforeunload', () => source.close());
}

connect();
