// The coordinator's board of the day's visits: offers of families' orders
// the platform matched to us (with what is left of their time), requests
// waiting, open
// alerts to dispatch a welfare check to in one action, then the day's
// visits (missed and late first, then who is at a door). Plain JavaScript,
// the console's session (its token in sessionStorage), refreshed every 15 s
// and after every action.
'use strict';

(() => {
  const TOKEN_KEY = 'eldercare.console.token';
  const REFRESH_MS = 15_000;
  const LATE_AFTER_MS = 15 * 60_000;
  const STATE_LABELS = {
    missed: 'Missed',
    late: 'Late',
    checked_in: 'At the door',
    requested: 'Requested',
    scheduled: 'Scheduled',
    assigned: 'Assigned',
    completed: 'Completed',
    cancelled: 'Cancelled',
  };
  // Late and missed first, then who is at a door, then the rest by time.
  const STATE_RANK = { missed: 0, late: 1, checked_in: 2, assigned: 3, scheduled: 3, completed: 4, cancelled: 5 };

  const token = sessionStorage.getItem(TOKEN_KEY);
  const $ = (sel) => document.querySelector(sel);

  const { h } = window.eldercareCommon;

  const api = window.eldercareCommon.client({ token: () => token, onSessionEnded: () => showLogin() });

  function showError(what, err) {
    $('.error-text').textContent = `${what}: ${err.message}`;
    $('#error').hidden = false;
  }

  function showLogin() {
    $('#board').hidden = true;
    $('#login-needed').hidden = false;
  }

  function time(iso) {
    return iso ? new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '—';
  }

  /** The local date of today, as the API's `from`/`to` take it. */
  function today() {
    const d = new Date();
    const pad = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  }

  /** A datetime-local input's value for an instant, in local time. */
  function localInput(iso) {
    const d = iso ? new Date(iso) : new Date(Date.now() + 3_600_000);
    const shifted = new Date(d.getTime() - d.getTimezoneOffset() * 60_000);
    return shifted.toISOString().slice(0, 16);
  }

  /** A visit's state on the board: scheduled ones past 15 minutes are late. */
  function boardState(v, now) {
    const waiting = v.status === 'scheduled' || v.status === 'assigned';
    if (waiting && v.scheduled_start && now - Date.parse(v.scheduled_start) > LATE_AFTER_MS) return 'late';
    return v.status;
  }

  async function act(what, method, path, body) {
    try {
      await api(method, path, body);
      $('#error').hidden = true;
    } catch (err) {
      showError(what, err);
    }
    await refresh();
  }

  function requestRow(v) {
    const input = h('input', { type: 'datetime-local', value: localInput(v.preferred_start), 'data-testid': 'schedule-at', 'aria-label': 'Start' });
    return h(
      'li',
      { 'data-state': 'requested', 'data-visit-id': v.id, 'data-testid': 'request' },
      h('span', { class: 'state' }, STATE_LABELS.requested),
      h('strong', {}, `${v.resident_name} · ${v.service_name}`),
      v.note ? h('span', { class: 'muted' }, v.note) : null,
      h(
        'span',
        { class: 'actions' },
        input,
        h('button', {
          type: 'button',
          class: 'primary',
          'data-testid': 'schedule',
          onclick: () => act('Could not schedule', 'POST', `/visits/${v.id}/schedule`, { scheduled_start: new Date(input.value).toISOString() }),
        }, 'Schedule'),
        h('button', {
          type: 'button',
          class: 'ghost',
          'data-testid': 'decline',
          onclick: () => act('Could not decline', 'POST', `/visits/${v.id}/cancel`, { reason: 'other', note: 'declined by the coordinator' }),
        }, 'Decline'),
      ),
    );
  }

  /** What is left of an offer's window, as a countdown: `12:05 left`. */
  function left(acceptBy, now) {
    const ms = Math.max(0, Date.parse(acceptBy) - now);
    const minutes = Math.floor(ms / 60_000);
    const seconds = Math.floor((ms % 60_000) / 1000);
    return `${minutes}:${String(seconds).padStart(2, '0')} left`;
  }

  function offerRow(o, now) {
    const reason = h('input', { type: 'text', 'data-testid': 'offer-reason', 'aria-label': 'Why we decline',
      placeholder: 'why we decline', maxlength: '500' });
    return h(
      'li',
      { 'data-state': 'requested', 'data-request-id': o.id, 'data-testid': 'offer' },
      h('span', { class: 'state', 'data-testid': 'offer-countdown', 'data-accept-by': o.offer.accept_by },
        left(o.offer.accept_by, now)),
      h('strong', {}, `${o.resident_name} · ${o.service_code}`),
      o.preferred_start ? h('span', { class: 'muted' }, `wished ${time(o.preferred_start)}`) : null,
      o.note ? h('span', { class: 'muted' }, o.note) : null,
      h(
        'span',
        { class: 'actions' },
        h('button', {
          type: 'button',
          class: 'primary',
          'data-testid': 'accept-offer',
          onclick: () => act('Could not accept', 'POST', `/service-requests/${o.id}/accept`),
        }, 'Accept'),
        reason,
        h('button', {
          type: 'button',
          class: 'ghost',
          'data-testid': 'decline-offer',
          onclick: () => act('Could not decline', 'POST', `/service-requests/${o.id}/decline`, { reason: reason.value.trim() }),
        }, 'Decline'),
      ),
    );
  }

  /** The countdowns move every second between refreshes. */
  function tick() {
    const now = Date.now();
    for (const el of document.querySelectorAll('[data-testid=offer-countdown]')) {
      el.textContent = left(el.dataset.acceptBy, now);
    }
  }

  function alertRow(a) {
    return h(
      'li',
      { 'data-state': 'late', 'data-alert-id': a.id, 'data-testid': 'board-alert' },
      h('span', { class: 'state' }, `${a.severity} · ${a.kind.replaceAll('_', ' ')}`),
      h('strong', {}, a.resident_name || ''),
      h('span', { class: 'actions' },
        h('button', {
          type: 'button',
          class: 'primary',
          'data-testid': 'dispatch',
          onclick: () => act('Could not dispatch', 'POST', `/alerts/${a.id}/dispatch`, {}),
        }, 'Dispatch a welfare check')),
    );
  }

  function visitRow(v, now) {
    const state = boardState(v, now);
    const where = state === 'checked_in' ? ` · since ${time(v.evv.start)}` : '';
    return h(
      'li',
      { 'data-state': state, 'data-visit-id': v.id, 'data-testid': 'visit' },
      h('span', { class: 'state', 'data-testid': 'visit-state' }, STATE_LABELS[state] || state),
      h('strong', {}, `${time(v.scheduled_start)} · ${v.resident_name} · ${v.service_name}`),
      h('span', { class: 'muted' }, `${v.caregiver_name || 'Nobody assigned'}${where}`),
      // Its whole chain (the alert, the record at the door, the money) opens in the console.
      h('a', { class: 'ghost', href: `/console/#trace/visit/${v.id}`, 'data-testid': 'visit-trace' }, 'Trace'),
    );
  }

  function fill(list, empty, rows) {
    $(list).replaceChildren(...rows);
    $(empty).hidden = rows.length > 0;
  }

  async function refresh() {
    let requests, visits, alerts, offers;
    try {
      const day = today();
      [requests, visits, alerts, offers] = await Promise.all([
        api('GET', '/visits?status=requested&limit=1000'),
        api('GET', `/visits?from=${day}&to=${day}&limit=1000`),
        api('GET', '/alerts?status=open&limit=1000'),
        api('GET', '/service-requests?status=offered'),
      ]);
    } catch (err) {
      showError('Could not load the board', err);
      return;
    }
    const now = Date.now();
    const day = visits.visits.filter((v) => v.status !== 'requested');
    day.sort((a, b) => (STATE_RANK[boardState(a, now)] ?? 9) - (STATE_RANK[boardState(b, now)] ?? 9)
      || Date.parse(a.scheduled_start) - Date.parse(b.scheduled_start));
    const dispatched = new Set(day.filter((v) => v.alert_id).map((v) => v.alert_id));
    const open = alerts.alerts.filter((a) => a.resident_id && !dispatched.has(a.id));
    const mine = offers.requests.filter((o) => o.status === 'offered' && o.offer);
    fill('[data-testid=offers]', '[data-testid=no-offers]', mine.map((o) => offerRow(o, now)));
    fill('[data-testid=requests]', '[data-testid=no-requests]', requests.visits.map(requestRow));
    fill('[data-testid=board-alerts]', '[data-testid=no-alerts]', open.map(alertRow));
    fill('[data-testid=visits]', '[data-testid=no-visits]', day.map((v) => visitRow(v, now)));
    const late = day.filter((v) => ['late', 'missed'].includes(boardState(v, now))).length;
    $('[data-testid=board-counts]').textContent =
      `${requests.visits.length} waiting · ${late} late or missed · ${day.filter((v) => v.status === 'checked_in').length} at a door`;
  }

  if (!token) {
    showLogin();
    return;
  }
  $('#board').hidden = false;
  refresh();
  setInterval(refresh, REFRESH_MS);
  setInterval(tick, 1000);
})();
