// The alert console: plain JavaScript, no framework, nothing fetched from
// elsewhere. One page: log in, follow the live alert stream, act on alerts,
// look at a resident.
'use strict';

(() => {
  // English and Chinese: every text the page builds goes through `t`.
  const I18N = window.eldercareI18n;
  const t = I18N.t;
  const TOKEN_KEY = 'eldercare.console.token';
  const SOUND_KEY = 'eldercare.console.sound';
  // While a critical alert is still unacknowledged the beep comes back.
  const REMINDER_MS = 60_000;

  const SEVERITY_RANK = { critical: 0, high: 1, medium: 2, low: 3 };
  const { KIND_LABELS } = window.eldercareCommon;
  const STATUS_LABELS = { open: 'Open', acknowledged: 'Acknowledged', resolved: 'Resolved' };
  const RESOLUTIONS = [
    ['handled', 'Handled'],
    ['false_alarm', 'False alarm'],
    ['cancelled_by_resident', 'Cancelled by resident'],
  ];
  const RESOLUTION_LABELS = Object.fromEntries([...RESOLUTIONS, ['auto_cleared', 'Cleared automatically']]);
  const METRIC_LABELS = {
    heart_rate: 'Heart rate',
    respiratory_rate: 'Breathing rate',
    spo2: 'SpO₂',
    body_temperature: 'Temperature',
    bp_systolic: 'Blood pressure (systolic)',
    bp_diastolic: 'Blood pressure (diastolic)',
    blood_glucose: 'Blood glucose',
  };
  const UNIT_LABELS = { Cel: '°C', 'mm[Hg]': 'mmHg', '/min': '/min', '%': '%' };
  const EVENT_LABELS = {
    fall_detected: 'Fall detected',
    fall_cancelled: 'Fall cancelled',
    sos_pressed: 'SOS pressed',
    motion: 'Movement',
    door_opened: 'Door opened',
    door_closed: 'Door closed',
    bed_exit: 'Got out of bed',
    bed_enter: 'Went to bed',
    appliance_on: 'Appliance on',
    appliance_off: 'Appliance off',
    meal_served: 'Meal served',
    meal_eaten: 'Meal eaten',
    medication_taken: 'Medication taken',
    water_leak: 'Water leak',
    smoke_detected: 'Smoke detected',
    gas_detected: 'Gas detected',
  };
  const TIMELINE_LABELS = {
    opened: 'Opened',
    repeated: 'Happened again',
    severity_raised: 'Severity raised',
    escalated: 'Escalated',
    notified: 'Notified',
    acknowledged: 'Acknowledged',
    assigned: 'Assigned',
    commented: 'Comment',
    resolved: 'Resolved',
    'visit.dispatched': 'Carer dispatched',
    'visit.checked_in': 'Carer at the door',
    'visit.checked_out': 'Carer left',
  };

  const state = {
    token: null,
    user: null,
    /** Active alerts by id (resolved ones leave). */
    alerts: new Map(),
    /** The list's row elements by alert id, kept so focus survives updates. */
    rows: new Map(),
    /** While the list loads, changes from the stream are kept here too, so
     * the load cannot overwrite something newer. */
    pending: null,
    loadToken: null,
    residents: new Map(),
    residentsAsked: 0,
    /** Names of people by user id, for assignees and timelines. */
    names: new Map(),
    /** Admins see the institution's care staff to assign to. */
    staff: [],
    panel: { kind: null, id: null, opener: null, generation: 0 },
    audio: { ctx: null, wanted: localStorage.getItem(SOUND_KEY) === 'on', lastBeep: 0 },
  };

  // ---------------------------------------------------------------- helpers

  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

  /** Builds an element; text always goes in as text, never as markup. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    setAttrs(el, attrs);
    for (const c of children.flat()) {
      if (c != null && c !== false) el.append(c instanceof Node ? c : t(String(c)));
    }
    return el;
  }

  function svg(tag, attrs, ...children) {
    const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
    setAttrs(el, attrs);
    for (const c of children.flat()) {
      if (c != null && c !== false) el.append(c instanceof Node ? c : String(c));
    }
    return el;
  }

  function setAttrs(el, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }

  const humanize = (s) => (s ? String(s).replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase()) : '');
  const kindLabel = (k) => t(KIND_LABELS[k] || humanize(k));
  const deviceKindLabel = (k) => (k === 'sos_button' ? 'SOS button' : humanize(k));
  const unitLabel = (u) => UNIT_LABELS[u] ?? u ?? '';
  const num = (v, digits = 0) =>
    typeof v === 'number' && Number.isFinite(v)
      ? I18N.number(v, { maximumFractionDigits: digits })
      : '?';
  const time = (iso) => Date.parse(iso);
  // A wall screen's display token reads only: it acts on nothing.
  const isStaff = () =>
    state.user && state.user.session_kind !== 'display' && (state.user.role === 'admin' || state.user.role === 'staff');

  function fmtClock(ms) {
    const total = Math.max(0, Math.floor(ms / 1000));
    const d = Math.floor(total / 86400);
    const hh = Math.floor((total % 86400) / 3600);
    const mm = String(Math.floor((total % 3600) / 60)).padStart(2, '0');
    const ss = String(total % 60).padStart(2, '0');
    if (d > 0) return `${d} d ${hh}:${mm}:${ss}`;
    return hh > 0 ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
  }

  function fmtSpoken(ms) {
    const mins = Math.floor(Math.max(0, ms) / 60000);
    if (mins < 1) return 'less than a minute';
    if (mins < 60) return `${mins} minute${mins === 1 ? '' : 's'}`;
    const hours = Math.floor(mins / 60);
    return `${hours} hour${hours === 1 ? '' : 's'} ${mins % 60} minutes`;
  }

  /** A time of day, with the date when it is not today. */
  function fmtWhen(iso, timeZone) {
    if (!iso) return '—';
    const d = new Date(iso);
    const opts = { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
    if (timeZone) opts.timeZone = timeZone;
    const lang = I18N.lang();
    const day = (x) => x.toLocaleDateString(lang, timeZone ? { timeZone } : {});
    const at = d.toLocaleTimeString(lang, opts);
    return day(d) === day(new Date()) ? at : `${d.toLocaleDateString(lang, { day: 'numeric', month: 'short', ...(timeZone ? { timeZone } : {}) })} ${at}`;
  }

  /** `HH:MM` out of a local RFC 3339 time such as `2026-11-28T11:00:00+08:00`. */
  const localHm = (s) => (typeof s === 'string' && s.length >= 16 ? s.slice(11, 16) : null);

  function nameOf(userId) {
    if (!userId) return null;
    if (state.user && userId === state.user.id) return `${state.user.name || 'Me'} (me)`;
    return state.names.get(userId) || 'another carer';
  }

  function residentRoom(residentId) {
    const r = residentId && state.residents.get(residentId);
    return r && r.room ? `Room ${r.room}` : null;
  }

  /** One line on what happened, from the alert's details. */
  function summary(alert) {
    const d = alert.details || {};
    const room = d.room ? humanize(d.room) : null;
    const parts = [];
    switch (alert.kind) {
      case 'fall':
      case 'sos':
      case 'smoke':
      case 'gas':
      case 'water_leak':
        if (room) parts.push(room);
        if (d.device_kind) parts.push(deviceKindLabel(d.device_kind));
        if (alert.kind === 'fall' && typeof d.confidence === 'number') parts.push(`confidence ${Math.round(d.confidence * 100)} %`);
        break;
      case 'vital_abnormal': {
        const label = METRIC_LABELS[d.metric] || humanize(d.metric);
        const unit = unitLabel(d.unit);
        parts.push(`${label} ${num(d.value, 1)} ${unit}`.trim());
        if (typeof d.threshold === 'number') parts.push(`limit ${num(d.threshold, 1)} ${unit}`.trim());
        if (typeof d.window_minutes === 'number') parts.push(`for ${num(d.window_minutes)} min`);
        break;
      }
      case 'missed_meal': {
        const from = localHm(d.local_start);
        const to = localHm(d.local_end);
        parts.push(`${humanize(d.meal || 'meal')} not taken${from && to ? ` (${from}–${to})` : ''}`);
        break;
      }
      case 'inactivity':
        parts.push(`No activity for ${num(d.hours, 1)} h`);
        if (d.last_activity) parts.push(`last ${fmtWhen(d.last_activity)}${d.last_activity_room ? ` in ${humanize(d.last_activity_room).toLowerCase()}` : ''}`);
        break;
      case 'no_morning_activity':
        parts.push(`Nothing by ${localHm(d.local_deadline) || fmtWhen(d.deadline)}`);
        break;
      case 'night_wandering':
        parts.push(`${room ? `${room} door` : 'Door'} opened at ${localHm(d.local_time) || fmtWhen(d.door_opened_at)}`);
        if (d.return_minutes != null) parts.push(`not back within ${num(d.return_minutes)} min`);
        break;
      case 'bed_exit_no_return':
        parts.push(`Left bed at ${localHm(d.local_time) || fmtWhen(d.bed_exit_at)}`);
        if (d.minutes != null) parts.push(`not back within ${num(d.minutes)} min`);
        break;
      case 'device_offline':
        parts.push(`${deviceKindLabel(d.device_kind || 'device')} ${d.device_id || alert.device_id || ''} not reporting`.trim());
        break;
      case 'low_battery':
        parts.push(`${deviceKindLabel(d.device_kind || 'device')} ${d.device_id || alert.device_id || ''}`.trim());
        parts.push(`battery ${num(d.battery)} %`);
        break;
      case 'ingest_stalled':
      case 'ingest_failing':
      case 'scheduler_stalled':
        parts.push(`since ${fmtWhen(d.since)}`);
        if (d.note) parts.push(d.note);
        break;
      case 'institution_silent':
        parts.push(`last data ${fmtWhen(d.last_data_at)}`);
        break;
      case 'identity_revoked':
        parts.push(`${d.account_kind || 'device'} ${d.username || ''}`.trim());
        if (d.note) parts.push(d.note);
        break;
      default:
        if (room) parts.push(room);
    }
    if (alert.occurrences > 1) parts.push(`${alert.occurrences} times`);
    if (alert.late) parts.push('reported late');
    return parts.join(' · ');
  }

  // -------------------------------------------------------------------- API

  const { ApiError } = window.eldercareCommon;
  const api = window.eldercareCommon.client({
    token: () => state.token,
    onSessionEnded: () => sessionEnded(),
    networkMessage: 'The server cannot be reached. Check the network connection.',
  });

  function showError(err, what) {
    const box = $('#error');
    const detail = err instanceof ApiError ? `${err.message} (${err.code})` : String(err && err.message ? err.message : err);
    $('.error-text', box).textContent = what ? `${t(what)}: ${detail}` : detail;
    box.hidden = false;
  }

  function clearError() {
    $('#error').hidden = true;
  }

  function announce(text) {
    const region = $('#announce');
    region.textContent = '';
    // A fresh text node after a tick, so screen readers announce repeats too.
    setTimeout(() => {
      region.textContent = text;
    }, 50);
  }

  // ---------------------------------------------------------------- session

  function showView(view) {
    for (const el of $$('[data-when]')) el.hidden = el.dataset.when !== view;
  }

  async function boot() {
    wireStatic();
    refreshSoundButton();
    await window.eldercareCommon.takeDisplayToken(TOKEN_KEY, t);
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) {
      showLogin();
      return;
    }
    state.token = token;
    try {
      state.user = await api('GET', '/me');
      startApp();
    } catch (err) {
      if (err.status !== 401) {
        // The server may be restarting: keep the session and retry shortly.
        showLogin();
        showError(err, 'Could not check the session');
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
    event.preventDefault();
    primeAudio();
    const form = event.currentTarget;
    const email = $('#login-email').value.trim();
    const password = $('#login-password').value;
    const error = $('[data-testid="login-error"]');
    const button = $('[data-testid="login-submit"]');
    button.disabled = true;
    error.hidden = true;
    try {
      const res = await window.eldercareCommon.logIn(api, email, password, t);
      state.token = res.token;
      state.user = res.user;
      sessionStorage.setItem(TOKEN_KEY, res.token);
      form.reset();
      startApp();
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  }

  function startApp() {
    clearError();
    showView('app');
    const role = state.user.role;
    $('[data-testid="current-user"]').textContent = state.user.name || state.user.email;
    $('[data-testid="current-user"]').title = `${state.user.email} · ${role}`;
    // On a platform of many institutions, whose alerts these are.
    $('[data-testid="institution-name"]').textContent = state.user.institution_name || '';
    if (state.user.id) state.names.set(state.user.id, state.user.name || state.user.email);
    document.body.classList.toggle('read-only', !isStaff());
    loadDirectory();
    startStream();
    refreshPushButton();
    $('#alerts').focus();
  }

  const ending = window.eldercareCommon.session({
    api,
    token: () => state.token,
    stop: stopStream, reset: resetSession,
    showLogin,
  });

  function logout() {
    return ending.logout();
  }

  /** The server no longer accepts the token (expired or revoked). */
  function sessionEnded() {
    ending.ended();
  }


  function resetSession() {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    state.user = null;
    state.alerts.clear();
    state.pending = null;
    state.loadToken = null;
    state.residents.clear();
    state.names.clear();
    state.staff = [];
    closePanel();
    render();
    clearError();
  }

  /** Residents (for rooms) and, for admins, the people alerts can go to. */
  async function loadDirectory() {
    try {
      const res = await api('GET', '/residents');
      for (const r of res.residents || []) state.residents.set(r.id, r);
      render();
    } catch (err) {
      if (err.status !== 401) showError(err, 'Could not load the residents');
    }
    if (isStaff() && state.user.role === 'admin') {
      try {
        const res = await api('GET', '/users');
        state.staff = (res.users || []).filter((u) => u.role === 'admin' || u.role === 'staff');
        for (const u of res.users || []) state.names.set(u.id, u.name || u.email);
        render();
      } catch (err) {
        if (err.status !== 401) showError(err, 'Could not load the staff list');
      }
    }
  }

  /** A resident the list has not seen yet (created after the page loaded). */
  async function learnResidents() {
    const now = Date.now();
    if (now - state.residentsAsked < 10_000) return;
    state.residentsAsked = now;
    try {
      const res = await api('GET', '/residents');
      for (const r of res.residents || []) state.residents.set(r.id, r);
      render();
    } catch {
      // Rooms are a nicety; the alert itself is already shown.
    }
  }

  // ----------------------------------------------------------------- stream

  /** `detail` changes often (a countdown): shown, but not read out. */
  function setConnection(stateName, text, detail = '') {
    const el = $('[data-testid="connection"]');
    el.dataset.state = stateName;
    const label = $('.connection-text', el);
    if (label.textContent !== t(text)) label.textContent = t(text);
    $('.connection-detail', el).textContent = detail;
  }

  const stream = window.eldercareCommon.liveStream({
    token: () => state.token,
    onConnecting: (again) => setConnection('connecting', again ? 'Reconnecting…' : 'Connecting…'),
    onEvent: (type, data) => onStreamEvent(type, data),
    onWaiting: (left) => setConnection('disconnected', 'Disconnected', ` · retry in ${left} s`),
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

  function onStreamEvent(type, data) {
    if (type === 'ready') {
      setConnection('connected', 'Live');
      // Whatever changed while we were not listening: load it fresh.
      loadAlerts();
    } else if (type === 'resync') {
      loadAlerts();
    } else if (type === 'alert') {
      // The data is the alert itself; `change` says what happened to it.
      let alert;
      try {
        alert = JSON.parse(data);
      } catch {
        return;
      }
      if (alert && alert.id) applyChange(alert.change, alert);
    }
  }

  // ----------------------------------------------------------------- alerts

  async function loadAlerts() {
    const token = {};
    state.loadToken = token;
    state.pending = new Map();
    try {
      const [open, acknowledged] = await Promise.all([
        api('GET', '/alerts?status=open&limit=1000'),
        api('GET', '/alerts?status=acknowledged&limit=1000'),
      ]);
      if (state.loadToken !== token) return;
      const fresh = new Map();
      for (const a of [...open.alerts, ...acknowledged.alerts]) fresh.set(a.id, a);
      for (const a of state.pending.values()) {
        const known = fresh.get(a.id);
        if (!known || time(a.updated_at) >= time(known.updated_at)) fresh.set(a.id, a);
      }
      state.pending = null;
      state.alerts = new Map([...fresh].filter(([, a]) => a.status !== 'resolved'));
      render();
      refreshPanelAlert();
    } catch (err) {
      if (state.loadToken !== token) return;
      state.pending = null;
      if (err.status !== 401) showError(err, 'Could not load the alerts');
    }
  }

  /** One change to one alert, from the stream or from our own action. */
  function applyChange(event, alert) {
    if (state.pending) {
      const seen = state.pending.get(alert.id);
      if (!seen || time(alert.updated_at) >= time(seen.updated_at)) state.pending.set(alert.id, alert);
    }
    const known = state.alerts.get(alert.id);
    if (known && time(known.updated_at) > time(alert.updated_at)) return;
    if (alert.status === 'resolved') state.alerts.delete(alert.id);
    else state.alerts.set(alert.id, alert);
    if (alert.resident_id && !state.residents.has(alert.resident_id)) learnResidents();

    const critical = alert.severity === 'critical' && alert.status === 'open';
    const loud = ['alert.opened', 'alert.escalated', 'alert.updated', 'alert.repeated'];
    if (critical && loud.includes(event)) {
      render();
      flash(alert.id);
      beep();
      const who = alert.resident_name ? ` for ${alert.resident_name}` : '';
      const how = { 'alert.escalated': 'Escalated', 'alert.repeated': 'Repeated' }[event] || 'New';
      announce(`${how} critical alert${who}: ${kindLabel(alert.kind)}. ${summary(alert)}`);
    } else {
      render();
    }
    if (state.panel.kind === 'alert' && state.panel.id === alert.id) {
      state.panel.alert = alert;
      renderAlertPanel(alert, true);
    }
  }

  function sortedAlerts() {
    return [...state.alerts.values()].sort(
      (a, b) =>
        (SEVERITY_RANK[a.severity] ?? 9) - (SEVERITY_RANK[b.severity] ?? 9) ||
        time(a.opened_at) - time(b.opened_at) ||
        (a.id < b.id ? -1 : 1),
    );
  }

  function render() {
    const list = $('[data-testid="alert-list"]');
    for (const [id, row] of state.rows) {
      if (!state.alerts.has(id)) {
        row.el.remove();
        state.rows.delete(id);
      }
    }
    let previous = null;
    for (const alert of sortedAlerts()) {
      let row = state.rows.get(alert.id);
      if (!row) {
        row = createRow(alert.id);
        state.rows.set(alert.id, row);
      }
      updateRow(row, alert);
      const expected = previous ? previous.nextSibling : list.firstChild;
      if (expected !== row.el) list.insertBefore(row.el, expected);
      previous = row.el;
    }
    $('[data-testid="no-alerts"]').hidden = state.alerts.size > 0;
    const open = [...state.alerts.values()].filter((a) => a.status === 'open');
    const critical = open.filter((a) => a.severity === 'critical').length;
    $('#counts').textContent = state.alerts.size
      ? [
          t('{n} active', { n: state.alerts.size }),
          t('{n} not acknowledged', { n: open.length }),
          critical ? t('{n} critical', { n: critical }) : null,
        ].filter(Boolean).join(' · ')
      : t('No active alerts');
    document.title = open.length ? `(${open.length}) ${t('Alert console · eldercare')}` : t('Alert console · eldercare');
    tickClocks();
  }

  function createRow(id) {
    const titleId = `alert-title-${id}`;
    const refs = {};
    const button = (testid, label, onclick, cls) =>
      (refs[testid] = h('button', { type: 'button', class: cls, 'data-testid': testid, 'aria-describedby': titleId, onclick }, label));
    const el = h(
      'li',
      { class: 'alert', 'data-testid': 'alert-row', 'data-alert-id': id },
      h('div', { class: 'sev' }, (refs.badge = h('span', { class: 'badge', 'data-testid': 'alert-severity' }))),
      h(
        'div',
        { class: 'what' },
        (refs.title = h('h3', { id: titleId, class: 'kind', 'data-testid': 'alert-kind' })),
        h(
          'p',
          { class: 'resident-line' },
          (refs.resident = h('button', {
            type: 'button',
            class: 'link',
            'data-testid': 'open-resident',
            onclick: (e) => {
              const a = state.alerts.get(id);
              if (a && a.resident_id) openResidentPanel(a.resident_id, e.currentTarget);
            },
          })),
          (refs.noResident = h('span', { class: 'muted' }, 'Shared device')),
          (refs.room = h('span', { class: 'room', 'data-testid': 'alert-room' })),
        ),
        (refs.summary = h('p', { class: 'summary', 'data-testid': 'alert-summary' })),
      ),
      h(
        'dl',
        { class: 'facts' },
        h('div', {}, h('dt', {}, 'Status'), (refs.status = h('dd', { 'data-testid': 'alert-status' }))),
        h('div', {}, h('dt', {}, 'Open for'), h('dd', {}, (refs.clock = h('time', { class: 'clock', 'data-testid': 'alert-clock' })))),
        h('div', {}, h('dt', {}, 'Escalation'), (refs.escalation = h('dd', { 'data-testid': 'alert-escalation' }))),
        h('div', {}, h('dt', {}, 'Assigned'), (refs.assignee = h('dd', { 'data-testid': 'alert-assignee' }))),
      ),
      h(
        'div',
        { class: 'actions' },
        button('ack', 'Acknowledge', () => act(id, 'acknowledge', undefined, 'Could not acknowledge'), 'primary staff-only'),
        button('assign-me', 'Assign to me', () => act(id, 'assign', { user_id: state.user.id }, 'Could not assign'), 'staff-only'),
        button('details', 'Details & resolve', (e) => openAlertPanel(id, e.currentTarget)),
      ),
    );
    return { el, refs };
  }

  function updateRow(row, alert) {
    const { el, refs } = row;
    el.className = `alert sev-${alert.severity} status-${alert.status}${el.classList.contains('flash') ? ' flash' : ''}`;
    el.dataset.severity = alert.severity;
    el.dataset.status = alert.status;
    refs.badge.textContent = t(alert.severity.toUpperCase());
    refs.title.textContent = kindLabel(alert.kind);
    refs.resident.hidden = !alert.resident_id;
    refs.noResident.hidden = !!alert.resident_id;
    refs.noResident.textContent = alert.device_id ? `Shared device ${alert.device_id}` : 'Whole institution';
    refs.resident.textContent = alert.resident_name || t('Resident');
    refs.resident.setAttribute('aria-label', `Resident ${alert.resident_name || ''}: open the resident panel`);
    const room = residentRoom(alert.resident_id) || (alert.details && alert.details.room);
    refs.room.textContent = room ? ` · ${room}` : '';
    refs.summary.textContent = summary(alert);
    refs.status.textContent = t(STATUS_LABELS[alert.status] || humanize(alert.status));
    refs.escalation.textContent = alert.escalation_level > 0 ? `Level ${alert.escalation_level}` : '—';
    refs.assignee.textContent = nameOf(alert.assigned_to) || 'Nobody';
    refs.clock.dataset.since = alert.opened_at;
    refs.clock.setAttribute('datetime', alert.opened_at);
    refs.clock.title = `Opened ${fmtWhen(alert.opened_at)}`;
    refs.ack.hidden = alert.status !== 'open';
    refs['assign-me'].hidden = !state.user || alert.assigned_to === state.user.id;
  }

  function flash(id) {
    const row = state.rows.get(id);
    if (!row) return;
    row.el.classList.remove('flash');
    // Restart the animation even when it is already running.
    void row.el.offsetWidth;
    row.el.classList.add('flash');
  }

  function tickClocks() {
    const now = Date.now();
    for (const el of $$('[data-since]')) {
      const ms = now - time(el.dataset.since);
      el.textContent = fmtClock(ms);
      el.setAttribute('aria-label', `open for ${fmtSpoken(ms)}`);
    }
  }

  /** A person's action; the answer is the alert as it is now. */
  async function act(id, action, body, what, button) {
    if (button) button.disabled = true;
    try {
      const alert = await api('POST', `/alerts/${id}/${action}`, body);
      clearError();
      applyChange(`alert.${action}`, alert);
      return alert;
    } catch (err) {
      showError(err, what);
      return null;
    } finally {
      if (button) button.disabled = false;
    }
  }

  // ------------------------------------------------------------------- push

  /** Web Push: this browser can be told of alarms while the page is closed. */
  function pushSupported() {
    return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
  }

  async function refreshPushButton() {
    const button = $('[data-testid="push-toggle"]');
    // A wall screen's display token is read-only: it subscribes nobody.
    button.hidden = !pushSupported() || state.user.session_kind === 'display';
    if (button.hidden) return;
    let on = false;
    try {
      const registration = await navigator.serviceWorker.getRegistration('/console/');
      const subscription = registration && (await registration.pushManager.getSubscription());
      on = Boolean(subscription) && Notification.permission === 'granted';
    } catch {
      // No service workers here (private mode, insecure origin): offered, and
      // turning it on will say why it cannot.
    }
    button.dataset.state = on ? 'on' : 'off';
    button.setAttribute('aria-pressed', String(on));
    button.textContent = on ? 'Notifications on' : 'Notify this device';
  }

  function keyBytes(base64url) {
    const text = atob(base64url.replace(/-/g, '+').replace(/_/g, '/'));
    return Uint8Array.from(text, (c) => c.charCodeAt(0));
  }

  async function enablePush() {
    const button = $('[data-testid="push-toggle"]');
    button.disabled = true;
    try {
      const registration = await navigator.serviceWorker.register('/console/sw.js', { scope: '/console/' });
      if ((await Notification.requestPermission()) !== 'granted') {
        throw new Error('notifications are blocked for this site in the browser settings');
      }
      const { key } = await api('GET', '/push/vapid-public-key');
      let subscription = await registration.pushManager.getSubscription();
      if (!subscription) {
        subscription = await registration.pushManager.subscribe({
          userVisibleOnly: true,
          applicationServerKey: keyBytes(key),
        });
      }
      await api('POST', '/me/push-subscriptions', subscription.toJSON());
      announce('This device will be notified of alerts.');
    } catch (err) {
      showError(err, 'Could not turn on notifications');
    } finally {
      button.disabled = false;
      refreshPushButton();
    }
  }

  // ------------------------------------------------------------------ sound

  function primeAudio() {
    if (!state.audio.wanted) return;
    try {
      if (!state.audio.ctx) state.audio.ctx = new AudioContext();
      if (state.audio.ctx.state === 'suspended') state.audio.ctx.resume().then(refreshSoundButton, refreshSoundButton);
    } catch {
      // No audio device: the visual cue still works.
    }
    refreshSoundButton();
  }

  function toggleSound() {
    state.audio.wanted = !state.audio.wanted;
    localStorage.setItem(SOUND_KEY, state.audio.wanted ? 'on' : 'off');
    primeAudio();
    refreshSoundButton();
    if (state.audio.wanted) beep(true);
  }

  function refreshSoundButton() {
    const button = $('[data-testid="sound-toggle"]');
    const running = state.audio.ctx && state.audio.ctx.state === 'running';
    button.setAttribute('aria-pressed', String(state.audio.wanted));
    button.dataset.state = !state.audio.wanted ? 'off' : running ? 'on' : 'blocked';
    button.textContent = t(!state.audio.wanted ? 'Sound off' : running ? 'Sound on' : 'Sound blocked: click to allow');
  }

  /** Three short tones, made here: no sound file to fetch. */
  function beep(force) {
    const ctx = state.audio.ctx;
    if (!state.audio.wanted || !ctx || ctx.state !== 'running') return;
    const now = Date.now();
    if (!force && now - state.audio.lastBeep < 1500) return;
    state.audio.lastBeep = now;
    const t0 = ctx.currentTime + 0.02;
    [880, 660, 880].forEach((freq, i) => {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = 'square';
      osc.frequency.value = freq;
      const start = t0 + i * 0.22;
      gain.gain.setValueAtTime(0.0001, start);
      gain.gain.exponentialRampToValueAtTime(0.25, start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.18);
      osc.connect(gain).connect(ctx.destination);
      osc.start(start);
      osc.stop(start + 0.2);
    });
  }

  function remind() {
    const waiting = [...state.alerts.values()].some((a) => a.severity === 'critical' && a.status === 'open');
    if (waiting && Date.now() - state.audio.lastBeep >= REMINDER_MS) beep();
  }

  // ------------------------------------------------------------------ panel

  function openPanel(kind, id, title, opener) {
    const panel = $('#panel');
    state.panel = { kind, id, opener: opener || state.panel.opener, generation: state.panel.generation + 1 };
    $('#panel-title').textContent = title;
    $('.panel-body', panel).replaceChildren();
    panel.dataset.kind = kind;
    panel.hidden = false;
    document.body.classList.add('with-panel');
    panel.focus();
    return state.panel.generation;
  }

  function closePanel() {
    const panel = $('#panel');
    if (panel.hidden) return;
    panel.hidden = true;
    document.body.classList.remove('with-panel');
    const opener = state.panel.opener;
    state.panel = { kind: null, id: null, opener: null, generation: state.panel.generation + 1 };
    if (opener && opener.isConnected) opener.focus();
    else $('#alerts').focus();
  }

  function section(title, testid, ...children) {
    return h('section', { class: 'panel-section', 'data-testid': testid }, h('h3', {}, title), ...children);
  }

  function loading() {
    return h('p', { class: 'muted' }, 'Loading…');
  }

  function inlineError(err) {
    return h('p', { class: 'inline-error', role: 'alert' }, `${err.message} (${err.code || 'error'})`);
  }

  async function openAlertPanel(id, opener) {
    const known = state.alerts.get(id);
    const title = known ? `${kindLabel(known.kind)}${known.resident_name ? ` — ${known.resident_name}` : ''}` : 'Alert';
    const generation = openPanel('alert', id, title, opener);
    let alert = known;
    if (!alert) {
      $('.panel-body', $('#panel')).append(loading());
      try {
        alert = await api('GET', `/alerts/${id}`);
      } catch (err) {
        if (generation === state.panel.generation) $('.panel-body', $('#panel')).replaceChildren(inlineError(err));
        return;
      }
      if (generation !== state.panel.generation) return;
      $('#panel-title').textContent = `${kindLabel(alert.kind)}${alert.resident_name ? ` — ${alert.resident_name}` : ''}`;
    }
    state.panel.alert = alert;
    renderAlertPanel(alert, false);
  }

  /** After a full reload of the list, the open panel's alert may have moved
   * on, or left the list (resolved while the stream was down). */
  async function refreshPanelAlert() {
    if (state.panel.kind !== 'alert') return;
    const { id, generation } = state.panel;
    let alert = state.alerts.get(id);
    if (!alert) {
      try {
        alert = await api('GET', `/alerts/${id}`);
      } catch {
        return;
      }
      if (generation !== state.panel.generation) return;
    }
    if (!state.panel.alert || time(alert.updated_at) > time(state.panel.alert.updated_at)) {
      state.panel.alert = alert;
      renderAlertPanel(alert, true);
    }
  }

  /** Renders the alert panel; on an update keeps what the user is typing. */
  function renderAlertPanel(alert, update) {
    const body = $('.panel-body', $('#panel'));
    const facts = alertFacts(alert);
    if (update && $('[data-testid="alert-facts"]', body)) {
      $('[data-testid="alert-facts"]', body).replaceWith(facts);
      const actions = $('[data-testid="alert-actions"]', body);
      const fresh = alertActions(alert);
      if (actions && actions.dataset.status !== alert.status) actions.replaceWith(fresh);
      else if (actions) syncAlertActions(actions, alert);
      loadTimeline(alert.id);
      return;
    }
    body.replaceChildren(
      facts,
      alertActions(alert),
      section('Timeline', 'timeline-section', h('ol', { class: 'timeline', 'data-testid': 'timeline' }, h('li', { class: 'muted' }, 'Loading…'))),
    );
    loadTimeline(alert.id);
  }

  function alertFacts(alert) {
    const row = (label, value, testid) => h('div', {}, h('dt', {}, label), h('dd', { 'data-testid': testid }, value));
    const resident = alert.resident_id
      ? h(
          'button',
          { type: 'button', class: 'link', 'data-testid': 'panel-open-resident', onclick: (e) => openResidentPanel(alert.resident_id, e.currentTarget) },
          alert.resident_name || 'Resident',
        )
      : alert.device_id
        ? `Shared device ${alert.device_id}`
        : 'Whole institution';
    return h(
      'dl',
      { class: 'facts-grid', 'data-testid': 'alert-facts' },
      row('Severity', h('span', { class: `badge sev-${alert.severity}` }, alert.severity.toUpperCase())),
      row('Status', `${STATUS_LABELS[alert.status] || alert.status}${alert.resolution ? ` · ${RESOLUTION_LABELS[alert.resolution] || humanize(alert.resolution)}` : ''}`, 'panel-status'),
      row('Resident', [resident, residentRoom(alert.resident_id) ? ` · ${residentRoom(alert.resident_id)}` : '']),
      row('What', summary(alert) || kindLabel(alert.kind)),
      row('Opened', fmtWhen(alert.opened_at)),
      alert.status !== 'resolved' ? row('Open for', h('time', { class: 'clock', 'data-since': alert.opened_at }, fmtClock(Date.now() - time(alert.opened_at)))) : null,
      alert.acknowledged_at ? row('Acknowledged', `${fmtWhen(alert.acknowledged_at)} by ${nameOf(alert.acknowledged_by) || 'the system'}`) : null,
      alert.resolved_at ? row('Resolved', `${fmtWhen(alert.resolved_at)}${alert.resolved_by ? ` by ${nameOf(alert.resolved_by)}` : ''}`) : null,
      row('Escalation', alert.escalation_level > 0 ? `Level ${alert.escalation_level}` : 'Not escalated'),
      row('Assigned', nameOf(alert.assigned_to) || 'Nobody'),
      alert.device_id ? row('Device', alert.device_id) : null,
    );
  }

  function alertActions(alert) {
    const wrap = h('div', { class: 'panel-actions', 'data-testid': 'alert-actions', 'data-status': alert.status });
    if (!isStaff()) {
      wrap.append(h('p', { class: 'muted' }, 'Only care staff can act on alerts.'));
      return wrap;
    }
    const id = alert.id;
    if (alert.status === 'open') {
      wrap.append(
        h('button', { type: 'button', class: 'primary big', 'data-testid': 'panel-ack', onclick: (e) => act(id, 'acknowledge', undefined, 'Could not acknowledge', e.currentTarget) }, 'Acknowledge'),
      );
    }
    if (alert.status !== 'resolved') {
      wrap.append(assignForm(alert), resolveForm(alert));
    }
    wrap.append(commentForm(alert));
    return wrap;
  }

  /** Keeps the assign control's choice in step after an update. */
  function syncAlertActions(actions, alert) {
    const select = $('[data-testid="assign-select"]', actions);
    if (select && document.activeElement !== select && alert.assigned_to) select.value = alert.assigned_to;
  }

  function assignForm(alert) {
    const id = alert.id;
    if (state.user.role === 'admin' && state.staff.length) {
      const select = h(
        'select',
        { id: `assign-${id}`, 'data-testid': 'assign-select' },
        state.staff.map((u) => h('option', { value: u.id }, `${u.name || u.email}${u.id === state.user.id ? ' (me)' : ''} · ${u.role}`)),
      );
      select.value = alert.assigned_to || state.user.id;
      return h(
        'form',
        {
          class: 'inline-form',
          'data-testid': 'assign-form',
          onsubmit: (e) => {
            e.preventDefault();
            act(id, 'assign', { user_id: select.value }, 'Could not assign', $('button', e.currentTarget));
          },
        },
        h('label', { for: `assign-${id}` }, 'Assign to'),
        select,
        h('button', { type: 'submit', 'data-testid': 'assign-submit' }, 'Assign'),
      );
    }
    return h(
      'div',
      { class: 'inline-form' },
      h('button', { type: 'button', 'data-testid': 'panel-assign-me', onclick: (e) => act(id, 'assign', { user_id: state.user.id }, 'Could not assign', e.currentTarget) }, 'Assign to me'),
    );
  }

  function resolveForm(alert) {
    const id = alert.id;
    const note = h('textarea', { id: `resolve-note-${id}`, rows: 2, maxlength: 4000, 'data-testid': 'resolve-note' });
    const error = h('p', { class: 'inline-error', role: 'alert', hidden: true });
    const choices = RESOLUTIONS.map(([value, label]) =>
      h(
        'label',
        { class: 'choice' },
        h('input', { type: 'radio', name: `resolution-${id}`, value, 'data-testid': `resolution-${value}` }),
        ` ${label}`,
      ),
    );
    return h(
      'form',
      {
        class: 'resolve-form',
        'data-testid': 'resolve-form',
        onsubmit: async (e) => {
          e.preventDefault();
          const form = e.currentTarget;
          const picked = $(`input[name="resolution-${id}"]:checked`, form);
          if (!picked) {
            error.textContent = t('Choose how the alert ended.');
            error.hidden = false;
            $('input[type="radio"]', form).focus();
            return;
          }
          error.hidden = true;
          const text = note.value.trim();
          const body = { resolution: picked.value, ...(text ? { note: text } : {}) };
          await act(id, 'resolve', body, 'Could not resolve', $('button[type="submit"]', form));
        },
      },
      h('fieldset', {}, h('legend', {}, 'Resolve'), h('div', { class: 'choices' }, choices)),
      h('label', { for: `resolve-note-${id}` }, 'Note (optional)'),
      note,
      error,
      h('button', { type: 'submit', class: 'primary', 'data-testid': 'resolve-submit' }, 'Resolve alert'),
    );
  }

  function commentForm(alert) {
    const id = alert.id;
    const text = h('textarea', { id: `comment-${id}`, rows: 2, maxlength: 4000, 'data-testid': 'comment-text' });
    return h(
      'form',
      {
        class: 'comment-form',
        'data-testid': 'comment-form',
        onsubmit: async (e) => {
          e.preventDefault();
          if (!text.value.trim()) {
            text.focus();
            return;
          }
          const done = await act(id, 'comments', { text: text.value.trim() }, 'Could not add the comment', $('button', e.currentTarget));
          if (done) text.value = '';
        },
      },
      h('label', { for: `comment-${id}` }, 'Comment'),
      text,
      h('button', { type: 'submit', 'data-testid': 'comment-submit' }, 'Add comment'),
    );
  }

  async function loadTimeline(id) {
    const generation = state.panel.generation;
    let res;
    try {
      res = await api('GET', `/alerts/${id}/timeline`);
    } catch (err) {
      const list = $('[data-testid="timeline"]');
      if (list && generation === state.panel.generation) list.replaceChildren(h('li', {}, inlineError(err)));
      return;
    }
    const list = $('[data-testid="timeline"]');
    if (!list || generation !== state.panel.generation) return;
    for (const e of res.entries) if (e.actor_id && e.actor_name) state.names.set(e.actor_id, e.actor_name);
    list.replaceChildren(
      ...res.entries
        .slice()
        .reverse()
        .map((e) =>
          h(
            'li',
            { 'data-testid': 'timeline-entry', 'data-action': e.action },
            h('time', { datetime: e.at }, fmtWhen(e.at)),
            h('strong', {}, ` ${TIMELINE_LABELS[e.action] || humanize(e.action)}`),
            e.actor_name ? ` by ${e.actor_name}` : e.actor_id ? '' : ' (system)',
            timelineDetail(e) ? h('span', { class: 'detail' }, timelineDetail(e)) : null,
          ),
        ),
    );
  }

  function timelineDetail(e) {
    const d = e.details || {};
    switch (e.action) {
      case 'commented':
        return d.text;
      case 'notified':
        return `${d.user_name || 'someone'} by ${d.channel}`;
      case 'acknowledged':
        return d.note || null;
      case 'resolved':
        return [RESOLUTION_LABELS[d.resolution] || humanize(d.resolution), d.note].filter(Boolean).join(' — ');
      case 'assigned':
        return `to ${nameOf(d.user_id) || 'someone'}`;
      case 'escalated':
        return `level ${d.level}`;
      case 'severity_raised':
        return `${d.from} → ${d.to}`;
      default:
        return null;
    }
  }

  // --------------------------------------------------------- resident panel

  async function openResidentPanel(residentId, opener) {
    const known = state.residents.get(residentId);
    const generation = openPanel('resident', residentId, known ? known.name : 'Resident', opener);
    const body = $('.panel-body', $('#panel'));
    const live = () => generation === state.panel.generation;
    const place = {
      about: section('Resident', 'resident-about', loading()),
      today: section('Today', 'resident-today', loading()),
      vitals: section('Vital signs, last 24 hours', 'resident-vitals', loading()),
      alerts: section('Recent alerts', 'resident-alerts', loading()),
      tryout: isStaff() ? section('Try these settings', 'resident-backtest', loading()) : null,
      devices: section('Devices', 'resident-devices', loading()),
    };
    body.replaceChildren(...Object.values(place).filter(Boolean));
    const fill = (el, ...content) => {
      if (live()) el.replaceChildren(el.firstChild, ...content);
    };

    let resident;
    try {
      resident = await api('GET', `/residents/${residentId}`);
    } catch (err) {
      fill(place.about, inlineError(err));
      for (const el of [place.today, place.vitals, place.alerts, place.devices]) fill(el);
      return;
    }
    if (!live()) return;
    state.residents.set(resident.id, resident);
    $('#panel-title').textContent = resident.name;
    const tz = resident.timezone;
    fill(
      place.about,
      h(
        'dl',
        { class: 'facts-grid' },
        h('div', {}, h('dt', {}, 'Room'), h('dd', { 'data-testid': 'resident-room' }, resident.room || '—')),
        h('div', {}, h('dt', {}, 'Time zone'), h('dd', {}, tz)),
        resident.notes ? h('div', { class: 'wide' }, h('dt', {}, 'Notes'), h('dd', {}, resident.notes)) : null,
      ),
      tz && tz !== Intl.DateTimeFormat().resolvedOptions().timeZone
        ? h('p', { class: 'tz-note muted' }, `Times in this panel are the resident's local time (${tz}).`)
        : null,
    );

    const q = encodeURIComponent;
    const now = new Date();
    const dayAgo = new Date(now.getTime() - 24 * 3600 * 1000);
    const midnight = midnightIn(tz);
    const devicesP = api('GET', `/devices?resident_id=${q(residentId)}`);
    const settled = (p) => p.then((v) => ({ ok: true, v }), (err) => ({ ok: false, err }));

    settled(devicesP).then((r) => fill(place.devices, r.ok ? devicesTable(r.v.devices || [], tz) : inlineError(r.err)));
    settled(api('GET', `/alerts?resident_id=${q(residentId)}&limit=10`)).then((r) =>
      fill(place.alerts, r.ok ? recentAlerts(r.v.alerts || [], tz) : inlineError(r.err)),
    );
    settled(
      Promise.all([api('GET', `/residents/${q(residentId)}/events?from=${q(midnight.toISOString())}&to=${q(now.toISOString())}`), devicesP.catch(() => ({ devices: [] }))]),
    ).then((r) => fill(place.today, r.ok ? todaySummary(r.v[0].events || [], r.v[1].devices || [], tz) : inlineError(r.err)));

    const range = `from=${q(dayAgo.toISOString())}&to=${q(now.toISOString())}&bucket=15m`;
    const settingsP = api('GET', `/residents/${q(residentId)}/rule-settings`);
    const thresholdsP = settingsP.then(
      (s) => (s && s.thresholds) || {},
      () => ({}),
    );
    if (place.tryout) {
      settled(settingsP).then((r) => fill(place.tryout, r.ok ? backtestForm(residentId, r.v, tz, live) : inlineError(r.err)));
    }
    settled(
      Promise.all([
        api('GET', `/residents/${q(residentId)}/readings?metric=heart_rate&${range}`),
        api('GET', `/residents/${q(residentId)}/readings?metric=spo2&${range}`),
        thresholdsP,
      ]),
    ).then((r) => {
      if (!r.ok) return fill(place.vitals, inlineError(r.err));
      const [hr, spo2, thresholds] = r.v;
      fill(
        place.vitals,
        chart({ title: 'Heart rate', metric: 'heart_rate', data: hr, from: dayAgo, to: now, tz, floor: [50, 110], limits: thresholds.heart_rate, color: '#ff8a80' }),
        chart({ title: 'SpO₂', metric: 'spo2', data: spo2, from: dayAgo, to: now, tz, floor: [88, 100], ceiling: 100, limits: thresholds.spo2, color: '#80d8ff' }),
      );
    });
  }

  // ------------------------------------------------------------- backtest

  const dateInput = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
  const TIME_PATTERN = '[0-2][0-9]:[0-5][0-9](:[0-5][0-9])?';

  /** "Try these settings": the resident's settings, changed in the form,
   *  replayed over their stored history (POST .../backtest), next to the
   *  alerts actually raised over the same period. */
  function backtestForm(residentId, settings, tz, live) {
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
  async function raisedBetween(residentId, from, to) {
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

  function backtestTable(report, actual, body, tz) {
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
  function midnightIn(timeZone) {
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

  function todaySummary(events, devices, tz) {
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

  function recentAlerts(alerts, tz) {
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

  function devicesTable(devices, tz) {
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
  function chart({ title, metric, data, from, to, tz, floor, ceiling, limits, color }) {
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

  // ---------------------------------------------------------------- wiring

  function wireStatic() {
    I18N.picker($('[data-testid="language"]'));
    I18N.apply();
    // Rows are built once and then updated: in another language they are
    // built again.
    I18N.onChange(() => {
      for (const row of state.rows.values()) row.el.remove();
      state.rows.clear();
      render();
      refreshSoundButton();
    });
    $('[data-testid="login-form"]').addEventListener('submit', login);
    $('[data-testid="logout"]').addEventListener('click', logout);
    $('[data-testid="sound-toggle"]').addEventListener('click', toggleSound);
    $('[data-testid="push-toggle"]').addEventListener('click', enablePush);
    $('[data-testid="error-dismiss"]').addEventListener('click', clearError);
    $('[data-testid="panel-close"]').addEventListener('click', closePanel);
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && !$('#panel').hidden) {
        e.preventDefault();
        closePanel();
      }
    });
    // Browsers allow audio only after a gesture: any click or key unlocks it.
    for (const type of ['pointerdown', 'keydown']) document.addEventListener(type, primeAudio, { capture: true, passive: true });
    setInterval(() => {
      tickClocks();
      remind();
    }, 1000);
    document.addEventListener('animationend', (e) => {
      if (e.animationName === 'flash') e.target.classList.remove('flash');
    });
  }

  document.addEventListener('DOMContentLoaded', boot);
})();
