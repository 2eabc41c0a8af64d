// The side panel, and an alert in it: details, timeline and actions.

import { $, RESOLUTIONS, RESOLUTION_LABELS, STATUS_LABELS, TIMELINE_LABELS, fmtClock, fmtWhen, h, humanize, isStaff, kindLabel, nameOf, residentRoom, state, summary, t, time } from './base.js';
import { api } from './session.js';
import { act } from './alerts.js';
import { openResidentPanel } from './resident.js';
import { openTracePanel } from './trace.js';
import { currentSection } from './views.js';

export function openPanel(kind, id, title, opener) {
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

export function closePanel() {
  const panel = $('#panel');
  if (panel.hidden) return;
  panel.hidden = true;
  document.body.classList.remove('with-panel');
  const opener = state.panel.opener;
  state.panel = { kind: null, id: null, opener: null, generation: state.panel.generation + 1 };
  if (opener && opener.isConnected) opener.focus();
  else currentSection().focus();
}

export function section(title, testid, ...children) {
  return h('section', { class: 'panel-section', 'data-testid': testid }, h('h3', {}, title), ...children);
}

export function loading() {
  return h('p', { class: 'muted' }, 'Loading…');
}

export function inlineError(err) {
  return h('p', { class: 'inline-error', role: 'alert' }, `${err.message} (${err.code || 'error'})`);
}

export async function openAlertPanel(id, opener) {
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
export async function refreshPanelAlert() {
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
export function renderAlertPanel(alert, update) {
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
    traceButton(alert),
    alertActions(alert),
    section('Timeline', 'timeline-section', h('ol', { class: 'timeline', 'data-testid': 'timeline' }, h('li', { class: 'muted' }, 'Loading…'))),
  );
  loadTimeline(alert.id);
}

/** The way to the alert's whole chain: the visit sent, its record, the money. */
function traceButton(alert) {
  if (!isStaff() || !alert.resident_id) return null;
  return h(
    'p',
    { class: 'panel-links' },
    h('button', { type: 'button', class: 'link', 'data-testid': 'panel-trace', onclick: (e) => openTracePanel('alert', alert.id, e.currentTarget) }, 'Trace'),
  );
}

export function alertFacts(alert) {
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

export function alertActions(alert) {
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
export function syncAlertActions(actions, alert) {
  const select = $('[data-testid="assign-select"]', actions);
  if (select && document.activeElement !== select && alert.assigned_to) select.value = alert.assigned_to;
}

export function assignForm(alert) {
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

export function resolveForm(alert) {
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

export function commentForm(alert) {
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

export async function loadTimeline(id) {
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

export function timelineDetail(e) {
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
