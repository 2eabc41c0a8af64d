// Trying other rule settings on a resident's history, and its charts.

import { $, EVENT_LABELS, RESOLUTION_LABELS, STATUS_LABELS, deviceKindLabel, fmtWhen, h, humanize, kindLabel, num, summary, svg, t, time, unitLabel } from './base.js';
import { api } from './session.js';
import { inlineError, loading, openAlertPanel } from './panel.js';

export const dateInput = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
export const TIME_PATTERN = '[0-2][0-9]:[0-5][0-9](:[0-5][0-9])?';

/** "Try these settings": the resident's settings, changed in the form,
 *  replayed over their stored history (POST .../backtest), next to the
 *  alerts actually raised over the same period. */
export function backtestForm(residentId, settings, tz, live) {
  const field = (label, testid, attrs) =>
    h('label', { class: 'field' }, h('span', {}, label), h('input', { 'data-testid': testid, ...attrs }));
  const timeField = (label, testid, value) =>
    field(label, testid, { type: 'text', value: value || '', pattern: TIME_PATTERN, placeholder: 'HH:MM', size: 5, required: true });
  const bound = (threshold, side) => (threshold && typeof threshold[side] === 'number' ? String(threshold[side]) : '');
  const hr = (settings.thresholds || {}).heart_rate;
  const spo2 = (settings.thresholds || {}).spo2;
  const today = new Date();
  const monthAgo = new Date(today.getTime() - 30 * 24 * 3600 * 1000);
  const meals = settings.meal_windows || [];
  const result = h('div', { class: 'backtest-result', 'data-testid': 'backtest-result', 'aria-live': 'polite' });
  const form = h(
    'form',
    { class: 'backtest-form', 'data-testid': 'backtest-form', novalidate: true },
    h(
      'div',
      { class: 'fields' },
      field('From', 'backtest-from', { type: 'date', value: dateInput(monthAgo), required: true }),
      field('To', 'backtest-to', { type: 'date', value: dateInput(today), required: true }),
      field('Inactivity after (hours)', 'backtest-inactivity', {
        type: 'number', min: '0.1', max: '48', step: '0.1', value: String((settings.inactivity || {}).hours ?? ''), required: true,
      }),
      timeField('Night from', 'backtest-night-start', (settings.night || {}).start),
      timeField('Night until', 'backtest-night-end', (settings.night || {}).end),
    ),
    meals.length
      ? h(
          'div',
          { class: 'fields' },
          meals.flatMap((m, i) => [
            timeField(`${humanize(m.meal)} from`, `backtest-meal-${i}-start`, m.start),
            timeField(`${humanize(m.meal)} until`, `backtest-meal-${i}-end`, m.end),
          ]),
        )
      : null,
    h(
      'div',
      { class: 'fields' },
      field('Heart rate min', 'backtest-hr-min', { type: 'number', step: '1', value: bound(hr, 'min') }),
      field('Heart rate max', 'backtest-hr-max', { type: 'number', step: '1', value: bound(hr, 'max') }),
      field('SpO₂ min', 'backtest-spo2-min', { type: 'number', step: '1', value: bound(spo2, 'min') }),
    ),
    h('button', { type: 'submit', class: 'primary', 'data-testid': 'backtest-submit' }, 'Try these settings'),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const value = (testid) => $(`[data-testid="${testid}"]`, form).value.trim();
    const number = (testid) => (value(testid) === '' ? null : Number(value(testid)));
    const from = new Date(`${value('backtest-from')}T00:00:00`);
    const end = new Date(`${value('backtest-to')}T00:00:00`);
    const to = new Date(Math.min(end.getTime() + 24 * 3600 * 1000, Date.now()));
    if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime()) || to <= from) {
      result.replaceChildren(h('p', { class: 'form-error', role: 'alert' }, 'Choose a period that ends after it starts.'));
      return;
    }
    const body = {
      from: from.toISOString(),
      to: to.toISOString(),
      settings: {
        inactivity: { hours: number('backtest-inactivity') },
        night: { start: value('backtest-night-start'), end: value('backtest-night-end') },
      },
      meal_windows: meals.map((m, i) => ({ meal: m.meal, start: value(`backtest-meal-${i}-start`), end: value(`backtest-meal-${i}-end`) })),
      thresholds: {
        heart_rate: { min: number('backtest-hr-min'), max: number('backtest-hr-max') },
        spo2: { min: number('backtest-spo2-min') },
      },
    };
    const button = $('[data-testid="backtest-submit"]', form);
    button.disabled = true;
    result.replaceChildren(loading());
    try {
      const [report, actual] = await Promise.all([
        api('POST', `/residents/${encodeURIComponent(residentId)}/backtest`, body),
        raisedBetween(residentId, from, to),
      ]);
      if (live()) result.replaceChildren(backtestTable(report, actual, body, tz));
    } catch (err) {
      if (live()) result.replaceChildren(inlineError(err));
    } finally {
      button.disabled = false;
    }
  });
  return h(
    'div',
    {},
    h('p', { class: 'muted' }, 'What these settings would have raised over the resident\'s stored history, next to what was raised.'),
    form,
    result,
  );
}

/** The resident's alerts opened in [from, to), counted by kind. */
export async function raisedBetween(residentId, from, to) {
  const counts = new Map();
  let cursor = null;
  for (let page = 0; page < 20; page++) {
    const q = `resident_id=${encodeURIComponent(residentId)}&since=${encodeURIComponent(from.toISOString())}&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const body = await api('GET', `/alerts?${q}`);
    for (const a of body.alerts || []) {
      if (time(a.opened_at) < to.getTime()) counts.set(a.kind, (counts.get(a.kind) || 0) + 1);
    }
    cursor = body.next_cursor;
    if (!cursor) break;
  }
  return counts;
}

export function backtestTable(report, actual, body, tz) {
  const byKind = report.by_kind || {};
  const kinds = [...new Set([...Object.keys(byKind), ...actual.keys()])].sort();
  const summary = h(
    'p',
    { 'data-testid': 'backtest-summary' },
    `${report.alerts.length} alerts would have been raised over ${num(report.days, 1)} days (${fmtWhen(body.from, tz)} – ${fmtWhen(body.to, tz)}).`,
  );
  if (!kinds.length) return h('div', { 'data-from': body.from, 'data-to': body.to }, summary);
  return h(
    'div',
    { class: 'table-wrap', 'data-from': body.from, 'data-to': body.to },
    summary,
    h(
      'table',
      { class: 'devices backtest', 'data-testid': 'backtest-table' },
      h('thead', {}, h('tr', {}, ['Alert', 'Would raise', 'Per week', 'Raised'].map((c) => h('th', { scope: 'col' }, c)))),
      h(
        'tbody',
        {},
        kinds.map((kind) =>
          h(
            'tr',
            { 'data-kind': kind },
            h('th', { scope: 'row' }, kindLabel(kind)),
            h('td', { 'data-testid': 'backtest-count' }, String(byKind[kind] || 0)),
            h('td', {}, num((report.per_week || {})[kind] || 0, 1)),
            h('td', { 'data-testid': 'actual-count' }, String(actual.get(kind) || 0)),
          ),
        ),
      ),
    ),
  );
}

/** Midnight today in the resident's time zone, as an instant. */
export function midnightIn(timeZone) {
  const offset = (date) => {
    const parts = Object.fromEntries(
      new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      })
        .formatToParts(date)
        .map((p) => [p.type, p.value]),
    );
    const asUtc = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
    return asUtc - Math.floor(date.getTime() / 1000) * 1000;
  };
  try {
    const now = new Date();
    const local = new Date(now.getTime() + offset(now));
    const wall = Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate());
    // Once with today's offset, once more with midnight's own (DST days).
    const guess = wall - offset(now);
    return new Date(wall - offset(new Date(guess)));
  } catch {
    const d = new Date();
    d.setHours(0, 0, 0, 0);
    return d;
  }
}

export function todaySummary(events, devices, tz) {
  if (!events.length) return h('p', { class: 'muted', 'data-testid': 'today-empty' }, 'No events recorded since midnight.');
  const roomOf = new Map(devices.map((d) => [d.device_id, d.room]));
  const room = (e) => (e.data && e.data.room) || roomOf.get(e.device_id) || null;
  const counts = new Map();
  for (const e of events) counts.set(e.kind, (counts.get(e.kind) || 0) + 1);
  const last = events[events.length - 1];
  const activity = events.filter((e) => ['motion', 'door_opened', 'bed_exit', 'appliance_on', 'meal_eaten', 'meal_served'].includes(e.kind));
  const lastActive = activity[activity.length - 1];
  const notable = events.filter((e) => !['motion', 'door_closed', 'appliance_off'].includes(e.kind)).slice(-8).reverse();
  return h(
    'div',
    { 'data-testid': 'today-summary' },
    h(
      'p',
      {},
      lastActive
        ? `Last active ${fmtWhen(lastActive.ts, tz)} (${EVENT_LABELS[lastActive.kind] || humanize(lastActive.kind)}${room(lastActive) ? `, ${humanize(room(lastActive)).toLowerCase()}` : ''}).`
        : `Last event ${fmtWhen(last.ts, tz)}.`,
    ),
    h(
      'ul',
      { class: 'chips' },
      [...counts]
        .sort((a, b) => b[1] - a[1])
        .map(([kind, n]) => h('li', {}, h('strong', {}, String(n)), ` ${EVENT_LABELS[kind] || humanize(kind)}`)),
    ),
    notable.length
      ? h(
          'ol',
          { class: 'events' },
          notable.map((e) =>
            h('li', {}, h('time', { datetime: e.ts }, fmtWhen(e.ts, tz)), ` ${EVENT_LABELS[e.kind] || humanize(e.kind)}`, room(e) ? ` · ${humanize(room(e))}` : ''),
          ),
        )
      : null,
  );
}

export function recentAlerts(alerts, tz) {
  if (!alerts.length) return h('p', { class: 'muted' }, 'No alerts.');
  return h(
    'ol',
    { class: 'recent', 'data-testid': 'recent-alerts' },
    alerts.map((a) =>
      h(
        'li',
        {},
        h('span', { class: `badge sev-${a.severity}` }, a.severity.toUpperCase()),
        h('button', { type: 'button', class: 'link', onclick: (e) => openAlertPanel(a.id, e.currentTarget) }, kindLabel(a.kind)),
        h('span', {}, ` ${fmtWhen(a.opened_at, tz)} · ${STATUS_LABELS[a.status] || a.status}${a.resolution ? ` (${RESOLUTION_LABELS[a.resolution] || humanize(a.resolution)})` : ''}`),
      ),
    ),
  );
}

export function devicesTable(devices, tz) {
  if (!devices.length) return h('p', { class: 'muted' }, 'No devices registered.');
  const online = (d) => (d.online === true ? ['Online', 'ok'] : d.online === false ? ['Offline', 'bad'] : ['Unknown', 'unknown']);
  const table = h(
    'table',
    { class: 'devices', 'data-testid': 'devices' },
    h('thead', {}, h('tr', {}, ['Device', 'Room', 'State', 'Battery', 'Last seen'].map((t) => h('th', { scope: 'col' }, t)))),
    h(
      'tbody',
      {},
      devices.map((d) => {
        const [label, cls] = online(d);
        const battery = typeof d.battery === 'number' ? `${Math.round(d.battery)} %` : '—';
        return h(
          'tr',
          { 'data-device-id': d.device_id },
          h('th', { scope: 'row' }, h('span', { class: 'device-id' }, d.device_id), h('span', { class: 'device-kind' }, deviceKindLabel(d.kind))),
          h('td', {}, [d.room, d.placement].filter(Boolean).map(humanize).join(' · ') || '—'),
          h('td', {}, h('span', { class: `pill ${cls}` }, label)),
          h('td', { class: typeof d.battery === 'number' && d.battery < 20 ? 'low' : '' }, battery),
          h('td', {}, d.last_seen_at ? fmtWhen(d.last_seen_at, tz) : 'never'),
        );
      }),
    ),
  );
  return h('div', { class: 'table-wrap' }, table);
}

/** Average line over a min–max band, 15-minute buckets, as inline SVG. */
export function chart({ title, metric, data, from, to, tz, floor, ceiling, limits, color }) {
  const points = (data.points || []).filter((p) => typeof p.avg === 'number');
  const unit = unitLabel(data.unit);
  const figure = h('figure', { class: 'chart', 'data-testid': `chart-${metric}` });
  if (!points.length) {
    figure.append(h('figcaption', {}, h('strong', {}, title), h('span', { class: 'muted' }, ' · no readings in the last 24 hours')));
    return figure;
  }
  const W = 640;
  const H = 200;
  const pad = { l: 44, r: 12, t: 12, b: 26 };
  const lo = Math.min(floor[0], ...points.map((p) => p.min ?? p.avg), limits && limits.min != null ? limits.min : Infinity);
  let hi = Math.max(floor[1], ...points.map((p) => p.max ?? p.avg), limits && limits.max != null ? limits.max : -Infinity);
  if (ceiling != null) hi = Math.min(hi, ceiling);
  const y0 = Math.floor(lo / 5) * 5 - 5;
  const y1 = Math.ceil(hi / 5) * 5 + (ceiling != null && hi >= ceiling ? 0 : 5);
  const t0 = from.getTime();
  const t1 = to.getTime();
  const x = (t) => pad.l + ((t - t0) / (t1 - t0)) * (W - pad.l - pad.r);
  const y = (v) => pad.t + (1 - (v - y0) / (y1 - y0)) * (H - pad.t - pad.b);

  const grid = [];
  const step = (y1 - y0) / 4;
  for (let i = 0; i <= 4; i++) {
    const v = y0 + i * step;
    grid.push(svg('line', { x1: pad.l, x2: W - pad.r, y1: y(v), y2: y(v), class: 'grid' }));
    grid.push(svg('text', { x: pad.l - 6, y: y(v) + 5, 'text-anchor': 'end', class: 'axis' }, num(v)));
  }
  const hourFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: tz });
  for (let i = 0; i <= 4; i++) {
    const t = t0 + (i * (t1 - t0)) / 4;
    grid.push(svg('text', { x: x(t), y: H - 6, 'text-anchor': i === 0 ? 'start' : i === 4 ? 'end' : 'middle', class: 'axis' }, i === 4 ? 'now' : hourFmt.format(t)));
  }
  const limitLines = [];
  for (const [key, label] of [['min', 'min'], ['max', 'max']]) {
    const v = limits && limits[key];
    if (typeof v === 'number' && v >= y0 && v <= y1) {
      limitLines.push(svg('line', { x1: pad.l, x2: W - pad.r, y1: y(v), y2: y(v), class: 'limit' }));
      limitLines.push(svg('text', { x: W - pad.r - 4, y: y(v) - 4, 'text-anchor': 'end', class: 'limit-label' }, `${label} ${num(v)}`));
    }
  }
  // A gap of more than two buckets breaks the line rather than bridging it.
  const runs = [];
  let run = [];
  for (const p of points) {
    const t = time(p.ts);
    if (run.length && t - time(run[run.length - 1].ts) > 45 * 60 * 1000) {
      runs.push(run);
      run = [];
    }
    run.push(p);
  }
  if (run.length) runs.push(run);
  const shapes = [];
  for (const r of runs) {
    const mid = 7.5 * 60 * 1000;
    const upper = r.map((p) => `${x(time(p.ts) + mid).toFixed(1)},${y(Math.min(p.max ?? p.avg, y1)).toFixed(1)}`);
    const lower = r.map((p) => `${x(time(p.ts) + mid).toFixed(1)},${y(p.min ?? p.avg).toFixed(1)}`).reverse();
    shapes.push(svg('polygon', { points: [...upper, ...lower].join(' '), fill: color, 'fill-opacity': 0.22, stroke: 'none' }));
    const line = r.map((p) => `${x(time(p.ts) + mid).toFixed(1)},${y(Math.min(p.avg, y1)).toFixed(1)}`);
    if (line.length === 1) {
      const [cx, cy] = line[0].split(',');
      shapes.push(svg('circle', { cx, cy, r: 3.5, fill: color }));
    } else {
      shapes.push(svg('polyline', { points: line.join(' '), fill: 'none', stroke: color, 'stroke-width': 2.5, 'stroke-linejoin': 'round' }));
    }
  }
  const latest = points[points.length - 1];
  const avgAll = points.reduce((s, p) => s + p.avg * (p.count || 1), 0) / points.reduce((s, p) => s + (p.count || 1), 0);
  const minAll = Math.min(...points.map((p) => p.min ?? p.avg));
  const maxAll = Math.max(...points.map((p) => p.max ?? p.avg));
  const description = `${title} over the last 24 hours: latest ${num(latest.avg)} ${unit} at ${fmtWhen(latest.ts, tz)}, average ${num(avgAll)}, lowest ${num(minAll)}, highest ${num(maxAll)} ${unit}.`;
  figure.append(
    h(
      'figcaption',
      {},
      h('strong', {}, title),
      ` · latest `,
      h('strong', { 'data-testid': `latest-${metric}` }, `${num(latest.avg)} ${unit}`),
      h('span', { class: 'muted' }, ` at ${fmtWhen(latest.ts, tz)} · range ${num(minAll)}–${num(maxAll)}`),
    ),
    svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': description }, svg('title', {}, description), grid, limitLines, shapes),
  );
  return figure;
}
