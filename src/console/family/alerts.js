// Her alerts and what is being done about each (seen by whom, a carer on
// the way, at the door), live from the alert stream; a critical one shows
// as a banner on every view, whichever elder it is about.

import { $, announce, api, clock, content, elder, firstName, h, hooks, kindLabel, loading, nothing, state, t, when } from './base.js';

const SEVERITY_LABELS = { critical: 'CRITICAL', high: 'HIGH', medium: 'MEDIUM', low: 'LOW' };
const STATUS_LABELS = { open: 'Waiting for an answer', acknowledged: 'Being handled', resolved: 'Closed' };
const RESOLUTION_LABELS = {
  handled: 'Handled',
  false_alarm: 'False alarm',
  cancelled_by_resident: 'Cancelled by her',
  auto_cleared: 'Cleared by itself',
};
/** How many alerts' timelines a load reads: the newest are what matter. */
const TIMELINES = 10;

const mine = {
  /** The chosen elder's latest alerts, by id. */
  alerts: new Map(),
  /** Timeline entries by alert id. */
  timelines: new Map(),
  /** Critical alerts not resolved, of every elder linked: the banners. */
  urgent: new Map(),
  generation: 0,
  /** Changes from the stream, counted, and the count at each alert's last
   * one: a load answers as of when it was asked, the stream may be newer. */
  seq: 0,
  seen: new Map(),
};

/** Whether the stream told of this alert after a load counted `from`. */
const newerThan = (id, from) => (mine.seen.get(id) || 0) > from;
const changed = [];
const opened = [];

export const onChange = (f) => changed.push(f);
/** `f(residentId)`: the person asked to see an elder's alerts. */
export const onOpen = (f) => opened.push(f);

export const activeCount = () => [...mine.alerts.values()].filter((a) => a.status !== 'resolved').length;

// ------------------------------------------------------------- stream

function setConnection(stateName, text) {
  const el = $('[data-testid="connection"]');
  el.dataset.state = stateName;
  $('.connection-text', el).textContent = t(text);
}

const stream = window.eldercareCommon.liveStream({
  token: () => state.token,
  onConnecting: (again) => setConnection('connecting', again ? 'Reconnecting…' : 'Connecting…'),
  onEvent: (type, data) => onEvent(type, data),
  onWaiting: () => setConnection('disconnected', 'Disconnected'),
  onSessionEnded: () => hooks.ended(),
});

export function start() {
  stream.start();
}

export function stop() {
  stream.stop();
  setConnection('disconnected', 'Not connected');
}

export function reset() {
  mine.generation += 1;
  mine.alerts.clear();
  mine.timelines.clear();
  mine.seen.clear();
  if (!state.token) mine.urgent.clear();
  renderBanners();
  tell();
}

function onEvent(type, data) {
  if (type === 'ready') {
    setConnection('connected', 'Live');
    // Whatever changed while the stream was away.
    reload();
    loadUrgent();
  } else if (type === 'resync') {
    reload();
    loadUrgent();
  } else if (type === 'alert') {
    let alert;
    try {
      alert = JSON.parse(data);
    } catch {
      return;
    }
    if (alert && alert.id) apply(alert);
  }
}

/** One change to one alert: its card, its timeline, the banners. */
async function apply(alert) {
  const known = mine.alerts.get(alert.id) || mine.urgent.get(alert.id);
  if (known && Date.parse(known.updated_at) > Date.parse(alert.updated_at)) return;
  mine.seen.set(alert.id, ++mine.seq);
  if (alert.severity === 'critical' && alert.status !== 'resolved') mine.urgent.set(alert.id, alert);
  else mine.urgent.delete(alert.id);
  if (alert.change === 'alert.opened' && alert.severity === 'critical') {
    announce(`${kindLabel(alert.kind)}: ${alert.resident_name || ''}`);
  }
  if (alert.resident_id === state.elder) {
    mine.alerts.set(alert.id, alert);
    await timeline(alert.id, mine.generation);
    render();
  }
  renderBanners();
  tell();
}

function tell() {
  for (const f of changed) f();
}

// -------------------------------------------------------------- loads

async function timeline(id, generation) {
  try {
    const entries = (await api('GET', `/alerts/${id}/timeline`)).entries || [];
    // A timeline only grows: an answer shorter than the one kept is older
    // (asked before the last change, answered after it).
    const known = mine.timelines.get(id);
    if (generation === mine.generation && !(known && known.length > entries.length)) mine.timelines.set(id, entries);
  } catch {
    // The alert itself shows; its steps come with the next change.
  }
}

/** The chosen elder's latest alerts, with the newest ones' timelines. */
export async function reload() {
  const id = state.elder;
  if (!id || !state.token) return;
  const generation = mine.generation;
  const from = mine.seq;
  await loading('Could not load the alerts', async () => {
    const res = await api('GET', `/alerts?resident_id=${encodeURIComponent(id)}&limit=50`);
    if (generation !== mine.generation) return;
    const list = res.alerts || [];
    await Promise.all(list.slice(0, TIMELINES).map((a) => timeline(a.id, generation)));
    if (generation !== mine.generation) return;
    // What the stream brought while this load was on its way is newer.
    const loaded = new Map(list.map((a) => [a.id, a]));
    for (const [id, a] of mine.alerts) if (newerThan(id, from)) loaded.set(id, a);
    mine.alerts = loaded;
    render();
    renderBanners();
    tell();
  });
}

async function loadUrgent() {
  const from = mine.seq;
  try {
    const res = await api('GET', '/alerts?severity=critical&limit=50');
    const loaded = new Map((res.alerts || []).filter((a) => a.status !== 'resolved').map((a) => [a.id, a]));
    for (const id of [...loaded.keys(), ...mine.urgent.keys()]) {
      if (!newerThan(id, from)) continue;
      if (mine.urgent.has(id)) loaded.set(id, mine.urgent.get(id));
      else loaded.delete(id);
    }
    mine.urgent = loaded;
    renderBanners();
  } catch {
    // The banners wait for the next change.
  }
}

export function load() {
  render();
  reload();
}

// ------------------------------------------------------------- render

/** What has been done about an alert, as the family reads it. */
function stepText(entry, alert) {
  const by = entry.actor_name;
  const carer = firstName(entry.details && entry.details.caregiver_name);
  switch (entry.action) {
    case 'opened':
      return t('Alert raised');
    case 'repeated':
      return t('Happened again');
    case 'severity_raised':
      return t('Became more urgent');
    case 'acknowledged':
      return by ? t('Seen by {name}', { name: by }) : t('Seen by the care team');
    case 'escalated':
      return t('Passed on to more of the care team');
    case 'visit.dispatched':
      return carer ? t('{name} is on the way', { name: carer }) : t('A carer has been sent');
    case 'visit.checked_in':
      return carer ? t('{name} is at the door', { name: carer }) : t('A carer is at the door');
    case 'visit.checked_out':
      return t('The carer has left');
    case 'resolved':
      return alert.resolution ? t('Closed: {how}', { how: t(RESOLUTION_LABELS[alert.resolution] || alert.resolution) }) : t('Closed');
    default:
      return null;
  }
}

function steps(alert) {
  const entries = mine.timelines.get(alert.id) || [];
  return entries.map((e) => ({ at: e.at, action: e.action, text: stepText(e, alert) })).filter((s) => s.text);
}

/** The latest thing done, in one line. */
function headline(alert) {
  const done = steps(alert).filter((s) => s.action !== 'opened' && s.action !== 'repeated');
  if (done.length) return done[done.length - 1].text;
  return t(STATUS_LABELS[alert.status] || alert.status);
}

function card(alert) {
  const progress = steps(alert);
  return h(
    'li',
    {
      class: `alert sev-${alert.severity} status-${alert.status}`,
      'data-testid': 'alert',
      'data-alert-id': alert.id,
      'data-status': alert.status,
    },
    h(
      'div',
      { class: 'row' },
      h('span', { class: `badge sev-${alert.severity}`, 'data-testid': 'alert-severity' }, t(SEVERITY_LABELS[alert.severity] || alert.severity)),
      h('span', { class: 'status', 'data-testid': 'alert-status' }, t(STATUS_LABELS[alert.status] || alert.status)),
    ),
    h('h3', { 'data-testid': 'alert-kind' }, kindLabel(alert.kind)),
    h('p', { class: 'muted' }, t('Raised {when}', { when: when(alert.opened_at) })),
    h('h4', {}, t('What is being done')),
    h(
      'ol',
      { class: 'steps', 'data-testid': 'alert-progress' },
      progress.map((s) => h('li', { 'data-step': s.action }, h('time', { datetime: s.at }, clock(s.at)), ' ', s.text)),
      alert.status === 'open' && progress.every((s) => s.action === 'opened' || s.action === 'repeated')
        ? h('li', { class: 'waiting' }, t('The care team has been told and will answer.'))
        : null,
    ),
  );
}

function render() {
  const el = content('alerts');
  if (!elder()) return;
  const list = [...mine.alerts.values()].sort(
    (a, b) => (a.status === 'resolved') - (b.status === 'resolved') || Date.parse(b.opened_at) - Date.parse(a.opened_at),
  );
  if (!list.length) {
    el.append(nothing('No alerts. When something happens it shows here at once.', 'no-alerts'));
    return;
  }
  el.append(h('ol', { class: 'cards', 'data-testid': 'alert-list' }, list.map(card)));
}

/** Every elder's critical alerts not resolved, above whatever view is open. */
export function renderBanners() {
  const box = $('[data-testid="alert-banners"]');
  box.textContent = '';
  for (const alert of mine.urgent.values()) {
    const who = state.elders.find((e) => e.id === alert.resident_id);
    if (!who) continue;
    const known = mine.alerts.get(alert.id) || alert;
    const see = h('button', { type: 'button', class: 'primary', 'data-testid': 'banner-open' }, t('See what is being done'));
    see.addEventListener('click', () => {
      for (const f of opened) f(alert.resident_id);
      location.hash = '#alerts';
    });
    box.append(
      h(
        'div',
        { class: 'banner', 'data-testid': 'alert-banner', 'data-alert-id': alert.id },
        h('p', { class: 'banner-title' }, `${kindLabel(alert.kind)} · ${who.name}`),
        h('p', { 'data-testid': 'banner-progress' }, `${clock(alert.opened_at)} · ${headline(known)}`),
        see,
      ),
    );
  }
}
