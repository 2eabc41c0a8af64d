// The alert list: loading it, applying live changes, acting on an alert.

import { $, $$, SEVERITY_RANK, STATUS_LABELS, fmtClock, fmtSpoken, fmtWhen, h, humanize, kindLabel, nameOf, residentRoom, state, summary, t, time } from './base.js';
import { announce, api, clearError, learnResidents, showError } from './session.js';
import { beep } from './sound.js';
import { openAlertPanel, refreshPanelAlert, renderAlertPanel } from './panel.js';
import { openResidentPanel } from './resident.js';

export async function loadAlerts() {
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
export function applyChange(event, alert) {
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

export function sortedAlerts() {
  return [...state.alerts.values()].sort(
    (a, b) =>
      (SEVERITY_RANK[a.severity] ?? 9) - (SEVERITY_RANK[b.severity] ?? 9) ||
      time(a.opened_at) - time(b.opened_at) ||
      (a.id < b.id ? -1 : 1),
  );
}

export function render() {
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

export function createRow(id) {
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

export function updateRow(row, alert) {
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

export function flash(id) {
  const row = state.rows.get(id);
  if (!row) return;
  row.el.classList.remove('flash');
  // Restart the animation even when it is already running.
  void row.el.offsetWidth;
  row.el.classList.add('flash');
}

export function tickClocks() {
  const now = Date.now();
  for (const el of $$('[data-since]')) {
    const ms = now - time(el.dataset.since);
    el.textContent = fmtClock(ms);
    el.setAttribute('aria-label', `open for ${fmtSpoken(ms)}`);
  }
}

/** A person's action; the answer is the alert as it is now. */
export async function act(id, action, body, what, button) {
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
