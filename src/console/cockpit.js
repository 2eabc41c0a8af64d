// The data cockpit: a wall screen of how well the service answers, visits
// and feeds. Plain JavaScript, nothing fetched from elsewhere, charts drawn
// as SVG here. Live: every alert change on the stream refreshes the figures,
// and they are read again each minute (visits and a region's institutions
// change without an alert). The district view and the provider scores
// (the bureau's and supervisors'), and the inspections (the bureau's), are
// modules of their own.

import { s } from './svg.js';
import { districtView } from './district.js';
import { scoresView } from './scores.js';
import { inspectionsView } from './inspections.js';

(() => {
  const I = window.eldercareI18n;
  const t = I.t;
  const TOKEN_KEY = 'eldercare.cockpit.token';
  const TARGET_60 = 97.5;
  const TARGET_180 = 99;
  /** Within this many points under a target is amber, further is red. */
  const AMBER_POINTS = 5;
  const REFRESH_MS = 60_000;

  const state = {
    token: null,
    user: null,
    data: null,
    /** Today's figures, the whole local day. */
    today: null,
    updatedAt: null,
    refreshTimer: null,
    pendingRefresh: null,
    /** `service` (the answering figures), `district` (the map), `scores`
     * (the providers ranked) or `inspections`. */
    view: 'service',
    /** The district view, for the roles that have one. */
    district: null,
    /** The provider scores, for the roles that have them. */
    scores: null,
    /** The inspections, for the bureau. */
    inspections: null,
  };

  const $ = (sel, root = document) => root.querySelector(sel);

  /** Builds an element; text always goes in as text, never as markup. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) el.setAttribute(k, v);
    for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c);
    return el;
  }

  const pct = (v, answerable) => (answerable === 0 ? '—' : I.percent(v, 1));
  const count = (v) => I.number(v);
  function duration(seconds) {
    if (!seconds) return '—';
    if (seconds < 120) return `${I.number(Math.round(seconds))} s`;
    if (seconds < 7200) return `${I.number(Math.round(seconds / 60))} min`;
    return `${I.number(seconds / 3600, { maximumFractionDigits: 1 })} h`;
  }
  /** A series day (YYYY-MM-DD) as the locale writes a short date. */
  function shortDate(day) {
    const [y, m, d] = day.split('-').map(Number);
    return I.dateTime(new Date(Date.UTC(y, m - 1, d)), { month: 'numeric', day: 'numeric', timeZone: 'UTC' });
  }

  function rag(value, target, answerable) {
    if (!answerable) return 'none';
    if (value >= target) return 'green';
    return value >= target - AMBER_POINTS ? 'amber' : 'red';
  }

  // ------------------------------------------------------------------ API

  const api = window.eldercareCommon.client({
    token: () => state.token,
    onSessionEnded: () => sessionEnded(),
  });

  function showError(message) {
    const box = $('[data-testid="error"]');
    box.textContent = message || '';
    box.hidden = !message;
  }

  // -------------------------------------------------------------- session

  function showView(view) {
    for (const el of document.querySelectorAll('[data-when]')) el.hidden = el.dataset.when !== view;
  }

  async function boot() {
    I.picker($('[data-testid="language"]'));
    I.apply();
    I.onChange(() => render());
    $('[data-testid="login-form"]').addEventListener('submit', login);
    $('[data-testid="logout"]').addEventListener('click', logout);
    for (const button of document.querySelectorAll('[data-view]')) {
      button.addEventListener('click', () => showPart(button.dataset.view));
    }
    await window.eldercareCommon.takeDisplayToken(TOKEN_KEY, t);
    state.token = sessionStorage.getItem(TOKEN_KEY);
    if (!state.token) return showLogin();
    try {
      state.user = await api('GET', '/me');
      start();
    } catch (err) {
      if (err.status !== 401) {
        showLogin();
        showError(`${t('Could not load the figures')}: ${err.message}`);
      }
    }
  }

  function showLogin(message) {
    showView('login');
    const error = $('[data-testid="login-error"]');
    error.textContent = message ? t(message) : '';
    error.hidden = !message;
    $('#login-email').focus();
  }

  async function login(event) {
    await window.eldercareCommon.submitLogin(event, api, t, (res) => {
      state.token = res.token;
      state.user = res.user;
      sessionStorage.setItem(TOKEN_KEY, res.token);
      start();
    });
  }

  /** The bureau reads only the district view; a supervisor both. */
  const hasDistrict = () => ['supervisor', 'civil_affairs'].includes(state.user.role);
  const hasService = () => state.user.role !== 'civil_affairs';
  const hasScores = hasDistrict;
  const hasInspections = () => state.user.role === 'civil_affairs';
  /** The views the user has, by their tab's name. */
  const VIEWS = { service: hasService, district: hasDistrict, scores: hasScores, inspections: hasInspections };

  function start() {
    showError('');
    showView('app');
    const user = state.user;
    $('[data-testid="place-name"]').textContent = user.institution_name || user.region || user.division || '';
    const views = Object.entries(VIEWS).filter(([, has]) => has()).map(([view]) => view);
    for (const button of document.querySelectorAll('[data-view]')) button.hidden = !views.includes(button.dataset.view);
    $('[data-testid="views"]').hidden = views.length < 2;
    state.district = hasDistrict()
      ? districtView({ api, root: $('[data-testid="district-view"]'), onError: showError })
      : null;
    state.scores = hasScores() ? scoresView({ api, root: $('[data-testid="scores-view"]'), onError: showError }) : null;
    state.inspections = hasInspections()
      ? inspectionsView({ api, root: $('[data-testid="inspections-view"]'), onError: showError })
      : null;
    showPart(hasService() ? 'service' : 'district');
    clearInterval(state.refreshTimer);
    state.refreshTimer = setInterval(refresh, REFRESH_MS);
    if (hasService()) startStream();
  }

  /** Shows one view, read afresh. */
  function showPart(view) {
    state.view = view;
    for (const part of Object.keys(VIEWS)) $(`[data-testid="${part}-view"]`).hidden = view !== part;
    for (const button of document.querySelectorAll('[data-view]')) {
      button.setAttribute('aria-pressed', String(button.dataset.view === view));
    }
    // The scores and inspections are read when opened, not each minute:
    // a month's scores stay, and a form being filled is not redrawn.
    if (view === 'scores') state.scores?.load();
    else if (view === 'inspections') state.inspections?.load();
    else refresh();
  }

  const ending = window.eldercareCommon.session({
    api,
    token: () => state.token,
    stop: stopStream, reset: reset,
    showLogin,
  });

  function logout() {
    return ending.logout();
  }

  /** The server no longer accepts the token (expired or revoked). */
  function sessionEnded() {
    ending.ended();
  }


  function reset() {
    clearInterval(state.refreshTimer);
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    state.user = null;
    state.data = null;
    state.district = null;
    state.scores?.stop();
    state.inspections?.stop();
    state.scores = null;
    state.inspections = null;
    state.view = 'service';
  }

  // -------------------------------------------------------------- figures

  async function refresh() {
    if (!state.token) return;
    if (state.view === 'district') {
      await state.district?.load();
      return;
    }
    if (state.view !== 'service') return;
    try {
      const data = await api('GET', '/cockpit?series=day');
      // Today whole, the visits still ahead included: the local day the
      // series ends on, as a day (its end included).
      const series = data.series || [];
      const day = series.length ? series[series.length - 1].date : null;
      const today = day ? await api('GET', `/cockpit?from=${day}&to=${day}`) : null;
      state.data = data;
      state.today = today ? { date: day, ...(today.total || today) } : null;
      state.updatedAt = new Date();
      showError('');
      render();
    } catch (err) {
      if (err.status === 403) showError(t('Figures for administrators and supervisors only.'));
      else if (err.status !== 401) showError(`${t('Could not load the figures')}: ${err.message}`);
    }
  }

  /** Many changes in a burst make one refresh. */
  function refreshSoon() {
    if (state.pendingRefresh) return;
    state.pendingRefresh = setTimeout(() => {
      state.pendingRefresh = null;
      refresh();
    }, 1000);
  }

  function render() {
    const data = state.data;
    if (!data) return;
    const figures = data.total || data;
    const series = data.series || [];
    const today = state.today || series[series.length - 1];
    const a = figures.alerts;
    slaTile($('[data-testid="sla-60"]'), t('Answered within 60 s'), a.acknowledged_within_60s_pct, TARGET_60, a.answerable);
    slaTile($('[data-testid="sla-180"]'), t('Answered within 180 s'), a.acknowledged_within_180s_pct, TARGET_180, a.answerable);
    tile($('[data-testid="mtta"]'), t('Mean time to acknowledge'), duration(a.mtta_seconds));
    tile($('[data-testid="mttr"]'), t('Mean time to resolve'), duration(a.mttr_seconds));
    tile($('[data-testid="open-now"]'), t('Open now'), count(a.open_now));
    tile($('[data-testid="false-alarms"]'), t('False alarms'), I.percent(a.false_alarm_pct, 1));
    todayAlerts($('[data-testid="today-alerts"]'), today);
    todayVisits($('[data-testid="today-visits"]'), today);
    fleet($('[data-testid="fleet"]'), figures);
    slaChart($('[data-testid="trend-sla"]'), series);
    barChart($('[data-testid="trend-alerts"]'), t('Alerts per day'), series, [
      ['done', (d) => d.alerts.total, t('Alerts')],
    ]);
    barChart($('[data-testid="trend-visits"]'), t('Visits per day'), series, [
      ['done', (d) => d.visits.completed, t('Completed')],
      ['miss', (d) => d.visits.missed, t('Missed')],
    ]);
    institutions($('[data-testid="institutions"]'), data);
    const updated = $('[data-testid="updated"]');
    updated.textContent = state.updatedAt
      ? t('Updated {time}', { time: I.dateTime(state.updatedAt, { hour: '2-digit', minute: '2-digit' }) })
      : '';
  }

  function slaTile(el, title, value, target, answerable) {
    el.dataset.rag = rag(value, target, answerable);
    el.replaceChildren(
      h('h2', {}, title),
      h('div', { class: 'value', 'data-testid': 'value' }, pct(value, answerable)),
      h('p', { class: 'note' }, t('target {target}', { target: I.percent(target, 1) })),
      h('p', { class: 'note' }, answerable ? t('of {n} alerts to answer', { n: count(answerable) }) : t('No alerts to answer')),
    );
  }

  function tile(el, title, value) {
    el.replaceChildren(h('h2', {}, title), h('div', { class: 'value', 'data-testid': 'value' }, value));
  }

  function figuresList(pairs) {
    return h('dl', { class: 'figures' }, pairs.map(([label, value, testid]) =>
      h('div', {}, h('dt', {}, label), h('dd', { 'data-testid': testid }, value))));
  }

  function todayAlerts(el, day) {
    const a = day ? day.alerts : null;
    const kinds = a ? Object.entries(a.by_kind).sort((x, y) => y[1] - x[1]) : [];
    el.replaceChildren(
      h('h2', {}, `${t('Today')} · ${t('Alerts')}`),
      figuresList([
        [t('Total'), a ? count(a.total) : '—', 'today-alerts-total'],
        [t('within 60 s'), a ? pct(a.acknowledged_within_60s_pct, a.answerable) : '—', 'today-60'],
        [t('Open now'), a ? count(a.open_now) : '—', 'today-open'],
      ]),
      h('ul', { class: 'kinds' }, kinds.map(([kind, n]) => h('li', {}, h('b', {}, count(n)), ' ', kindLabel(kind)))),
    );
  }

  function todayVisits(el, day) {
    const v = day ? day.visits : null;
    el.replaceChildren(
      h('h2', {}, `${t('Today')} · ${t('Visits')}`),
      figuresList([
        [t('Scheduled'), v ? count(v.scheduled) : '—', 'today-visits-scheduled'],
        [t('Completed'), v ? count(v.completed) : '—', 'today-visits-completed'],
        [t('Missed'), v ? count(v.missed) : '—', 'today-visits-missed'],
        [t('Late'), v ? count(v.late) : '—', 'today-visits-late'],
      ]),
    );
  }

  function fleet(el, f) {
    el.replaceChildren(
      h('h2', {}, `${t('Residents')} · ${t('Devices')} · ${t('Last 30 days')}`),
      figuresList([
        [t('Residents'), count(f.residents.total), 'residents-total'],
        [t('With open alerts'), count(f.residents.with_open_alerts), 'residents-open'],
        [t('Online'), I.percent(f.devices.online_pct, 1), 'devices-online'],
        [t('Low battery devices'), count(f.devices.low_battery), 'devices-low-battery'],
        [t('EVV verified'), I.percent(f.visits.evv_verified_pct, 1), 'visits-verified'],
        [t('Hours delivered'), I.number(f.visits.hours_delivered, { maximumFractionDigits: 1 }), 'visits-hours'],
      ]),
    );
  }

  const { KIND_LABELS } = window.eldercareCommon;
  const kindLabel = (kind) => t(KIND_LABELS[kind] || kind.replace(/_/g, ' '));

  // --------------------------------------------------------------- charts

  const W = 600;
  const H = 220;
  const PAD = { left: 38, right: 10, top: 10, bottom: 24 };

  /** Axes for a day series: `y` maps a value to its height, `ticks` are
   * labelled with `label`. */
  function frame(series, y, ticks, label) {
    const x = (i) => PAD.left + (series.length <= 1 ? 0 : (i * (W - PAD.left - PAD.right)) / (series.length - 1));
    const parts = [s('line', { class: 'axis', x1: PAD.left, x2: W - PAD.right, y1: H - PAD.bottom, y2: H - PAD.bottom })];
    for (const v of ticks) parts.push(s('text', { x: PAD.left - 4, y: y(v) + 4, 'text-anchor': 'end' }, label(v)));
    const step = Math.max(1, Math.ceil(series.length / 6));
    series.forEach((d, i) => {
      if (i % step === 0 || i === series.length - 1) {
        parts.push(s('text', { x: x(i), y: H - 6, 'text-anchor': 'middle' }, shortDate(d.date)));
      }
    });
    return { x, parts };
  }

  /** A height for `v` of `max`, from the bottom axis up. */
  const scale = (max, floor = 0) => (v) =>
    H - PAD.bottom - (Math.max(0, v - floor) / (max - floor)) * (H - PAD.top - PAD.bottom);

  function slaChart(el, series) {
    // The chart is about the top: shares under 50 % are drawn at the floor.
    const y = scale(100, 50);
    const f = frame(series, y, [50, 75, 100], (v) => I.percent(v, 0));
    const line = (key, colour, testid) => {
      const pts = series
        .map((d, i) => (d.alerts.answerable ? `${f.x(i).toFixed(1)},${y(d.alerts[key]).toFixed(1)}` : null))
        .filter(Boolean);
      if (!pts.length) return null;
      // Dots too: a day alone between quiet days is a line of no length.
      const dots = pts.map((p) => {
        const [cx, cy] = p.split(',');
        return s('circle', { cx, cy, r: 3.5, fill: colour });
      });
      return [s('polyline', { points: pts.join(' '), fill: 'none', stroke: colour, 'stroke-width': 3, 'data-testid': testid }), dots];
    };
    const target = (v, colour) => s('line', {
      x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), stroke: colour, 'stroke-dasharray': '6 4', 'stroke-width': 1.5,
    });
    const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': t('Answering trend') },
      f.parts,
      target(TARGET_60, '#58a6ff'),
      target(TARGET_180, '#bc8cff'),
      line('acknowledged_within_60s_pct', '#58a6ff', 'line-60'),
      line('acknowledged_within_180s_pct', '#bc8cff', 'line-180'));
    el.replaceChildren(
      h('h2', {}, `${t('Answering trend')} · ${t('Last 30 days')}`),
      svg,
      h('p', { class: 'legend' },
        h('span', {}, h('span', { class: 'swatch s60' }), t('within 60 s')),
        h('span', {}, h('span', { class: 'swatch s180' }), t('within 180 s'))),
    );
  }

  function barChart(el, title, series, stacks) {
    const totals = series.map((d) => stacks.reduce((sum, [, get]) => sum + get(d), 0));
    const max = Math.max(4, ...totals);
    const nice = Math.ceil(max / 4) * 4;
    const y = scale(nice);
    const f = frame(series, y, [0, nice / 2, nice], (v) => I.number(v));
    const width = Math.max(2, ((W - PAD.left - PAD.right) / Math.max(1, series.length)) * 0.7);
    const bars = [];
    series.forEach((d, i) => {
      let base = 0;
      for (const [cls, get] of stacks) {
        const v = get(d);
        if (v > 0) {
          bars.push(s('rect', {
            x: (f.x(i) - width / 2).toFixed(1), y: y(base + v).toFixed(1), width: width.toFixed(1),
            height: (y(base) - y(base + v)).toFixed(1), fill: cls === 'miss' ? '#f85149' : '#2ea043', 'data-testid': 'bar',
          }));
        }
        base += v;
      }
    });
    el.replaceChildren(
      h('h2', {}, `${title} · ${t('Last 30 days')}`),
      s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title }, f.parts, bars),
      h('p', { class: 'legend' }, stacks.map(([cls, , label]) => h('span', {}, h('span', { class: `swatch ${cls}` }), label))),
    );
  }

  // --------------------------------------------------------- institutions

  /** A supervisor's institutions, the worst answering first: those with
   * alerts to answer by their 60 s share, then 180 s; those with none last. */
  function institutions(el, data) {
    if (!data.institutions) {
      el.hidden = true;
      return;
    }
    el.hidden = false;
    const worstFirst = [...data.institutions].sort((x, y) => {
      const key = (i) => (i.alerts.answerable ? i.alerts.acknowledged_within_60s_pct : Infinity);
      const k180 = (i) => (i.alerts.answerable ? i.alerts.acknowledged_within_180s_pct : Infinity);
      return key(x) - key(y) || k180(x) - k180(y) || x.name.localeCompare(y.name);
    });
    const cells = (f) => [
      h('td', { 'data-rag': rag(f.alerts.acknowledged_within_60s_pct, TARGET_60, f.alerts.answerable) },
        pct(f.alerts.acknowledged_within_60s_pct, f.alerts.answerable)),
      h('td', { 'data-rag': rag(f.alerts.acknowledged_within_180s_pct, TARGET_180, f.alerts.answerable) },
        pct(f.alerts.acknowledged_within_180s_pct, f.alerts.answerable)),
      h('td', {}, count(f.alerts.total)),
      h('td', {}, count(f.alerts.open_now)),
      h('td', {}, count(f.visits.completed)),
      h('td', {}, count(f.visits.missed)),
      h('td', {}, I.percent(f.devices.online_pct, 1)),
    ];
    el.replaceChildren(
      h('h2', {}, `${t('Institutions')} · ${t('Worst first')}`),
      h('table', {},
        h('thead', {}, h('tr', {}, [t('Institution'), t('within 60 s'), t('within 180 s'), t('Alerts'), t('Open now'),
          `${t('Visits')} ${t('completed')}`, `${t('Visits')} ${t('missed')}`, t('Online')].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {},
          worstFirst.map((i) => h('tr', { 'data-testid': 'institution-row', 'data-institution-id': i.id },
            h('td', {}, i.name), cells(i))),
          h('tr', { class: 'total', 'data-testid': 'region-total' }, h('td', {}, t('Region total')), cells(data.total)))),
    );
  }

  // --------------------------------------------------------------- stream

  function setConnection(name, text) {
    const el = $('[data-testid="connection"]');
    el.dataset.state = name;
    const label = $('.connection-text', el);
    label.dataset.i18nSource = text;
    label.textContent = t(text);
  }

  const stream = window.eldercareCommon.liveStream({
    token: () => state.token,
    onConnecting: (again) => setConnection('connecting', again ? 'Reconnecting…' : 'Connecting…'),
    // Any change refreshes the figures.
    onEvent: (type) => {
      if (type === 'ready') {
        setConnection('connected', 'Live');
        refreshSoon();
      } else if (type === 'alert' || type === 'resync') {
        refreshSoon();
      }
    },
    onWaiting: () => setConnection('disconnected', 'Disconnected'),
    onSessionEnded: () => sessionEnded(),
  });

  function startStream() {
    stopStream();
    stream.start();
  }

  function stopStream() {
    stream.stop();
    setConnection('disconnected', 'Not connected');
  }

  document.addEventListener('DOMContentLoaded', boot);
})();
