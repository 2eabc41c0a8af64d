// The caregiver's phone: the day's visits, how to get in, check-in and
// check-out at the door with the phone's position, tasks to tick. Plain
// JavaScript, nothing fetched from elsewhere. What the carer has typed or
// ticked stays on the page until the server has it: a failed check-out (no
// network, a refused position) keeps the form, and a retry after a network
// failure sends the time the carer first pressed the button, so the record
// says when it happened (the backend marks it an offline entry).
'use strict';

(() => {
  const I = window.eldercareI18n;
  const t = I.t;
  const TOKEN_KEY = 'eldercare.carer.token';
  const REFRESH_MS = 60_000;
  /** A visit not started this long after its time is late (the contract's 15 min). */
  const LATE_AFTER_MS = 15 * 60_000;
  /** The revealed key safe code goes away by itself after this long. */
  const KEY_SAFE_SHOWN_MS = 120_000;
  /** The backend takes an offline time at most 24 h old. */
  const OFFLINE_MAX_MS = 24 * 3600_000;
  // A fresh fix: a position cached from the last door would put the carer there.
  const GEO_OPTIONS = { enableHighAccuracy: true, timeout: 20_000, maximumAge: 0 };

  const STATE_LABELS = {
    requested: 'Requested',
    scheduled: 'Scheduled',
    assigned: 'To do',
    late: 'Late',
    missed: 'Missed',
    checked_in: 'Checked in',
    completed: 'Done',
    cancelled: 'Cancelled',
  };
  const EXCEPTION_LABELS = {
    far_from_home: 'Far from home',
    late_start: 'Late start',
    short_visit: 'Short visit',
    manual_entry: 'Corrected by hand',
    offline_entry: 'Sent later (offline)',
    disputed: 'Disputed by a follow-up call',
  };

  const state = {
    token: null,
    user: null,
    /** The day asked for (YYYY-MM-DD), or null for the server's today. */
    date: null,
    visits: [],
    /** What the carer has entered per visit id, kept across re-renders. */
    drafts: new Map(),
    /** Visit ids with an action under way. */
    busy: new Set(),
    refreshTimer: null,
    retry: null,
  };

  const api = window.eldercareCommon.client({
    token: () => state.token,
    onSessionEnded: () => sessionEnded(),
    networkMessage: 'No connection to the server.',
  });

  const $ = (sel, root = document) => root.querySelector(sel);

  /** Builds an element; text always goes in as text, never as markup. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c);
    return el;
  }

  const time = (iso) => (iso ? I.dateTime(new Date(iso), { hour: '2-digit', minute: '2-digit' }) : '—');
  const metres = (m) => `${I.number(Math.round(m))} m`;

  function draft(id) {
    if (!state.drafts.has(id)) state.drafts.set(id, { tasks: new Set(), note: '', tag: '', method: 'qr', at: null });
    return state.drafts.get(id);
  }

  // ------------------------------------------------------------- errors

  function showError(message, retry) {
    const box = $('[data-testid="error"]');
    $('.error-text', box).textContent = message || '';
    box.hidden = !message;
    state.retry = retry || null;
    $('[data-testid="error-retry"]').hidden = !retry;
  }

  function describe(err) {
    if (err && err.code === 'network_error') return t('No connection to the server. Nothing was lost: try again.');
    return err && err.code ? `${err.message} (${err.code})` : String((err && err.message) || err);
  }

  // ------------------------------------------------------------ session

  function showView(view) {
    for (const el of document.querySelectorAll('[data-when]')) el.hidden = el.dataset.when !== view;
  }

  async function boot() {
    I.picker($('[data-testid="language"]'));
    I.apply();
    I.onChange(() => render());
    $('[data-testid="login-form"]').addEventListener('submit', login);
    $('[data-testid="logout"]').addEventListener('click', logout);
    $('[data-testid="refresh"]').addEventListener('click', () => load());
    $('[data-testid="error-retry"]').addEventListener('click', () => {
      const retry = state.retry;
      showError('');
      if (retry) retry();
    });
    $('[data-testid="date"]').addEventListener('change', (e) => {
      state.date = e.target.value || null;
      load();
    });
    state.token = sessionStorage.getItem(TOKEN_KEY);
    if (!state.token) return showLogin();
    try {
      state.user = await api('GET', '/me');
      start();
    } catch (err) {
      if (err.status !== 401) {
        showLogin();
        showError(`${t('Could not check the session')}: ${describe(err)}`, boot);
      }
    }
  }

  function showLogin(message) {
    showView('login');
    const error = $('[data-testid="login-error"]');
    error.textContent = message ? t(message) : '';
    error.hidden = !message;
  }

  async function login(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const error = $('[data-testid="login-error"]');
    const button = $('[data-testid="login-submit"]');
    button.disabled = true;
    error.hidden = true;
    try {
      const res = await window.eldercareCommon.logIn(
        api,
        $('#login-email').value.trim(),
        $('#login-password').value,
        t,
      );
      state.token = res.token;
      state.user = res.user;
      sessionStorage.setItem(TOKEN_KEY, res.token);
      form.reset();
      start();
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  }

  function start() {
    showError('');
    showView('app');
    $('[data-testid="who"]').textContent = state.user.name || state.user.email || '';
    load();
    clearInterval(state.refreshTimer);
    state.refreshTimer = setInterval(() => {
      // Never re-render under a carer's fingers.
      if (!document.activeElement || !document.activeElement.closest('.visit')) load();
    }, REFRESH_MS);
  }

  const ending = window.eldercareCommon.session({
    api,
    token: () => state.token,
    reset: reset,
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
    state.visits = [];
    state.drafts.clear();
    $('[data-testid="visits"]').textContent = '';
  }

  // -------------------------------------------------------------- visits

  async function load() {
    if (!state.token) return;
    const query = state.date ? `?date=${encodeURIComponent(state.date)}` : '';
    try {
      const res = await api('GET', `/me/visits${query}`);
      state.visits = res.visits || [];
      if (!state.date) $('[data-testid="date"]').value = res.date;
      showError('');
      render();
    } catch (err) {
      if (err.status !== 401) showError(`${t('Could not load your visits')}: ${describe(err)}`, load);
    }
  }

  /** The state a carer cares about: late and missed stand out. */
  function stateOf(v) {
    if ((v.status === 'assigned' || v.status === 'scheduled') && v.scheduled_start) {
      if (Date.now() > Date.parse(v.scheduled_start) + LATE_AFTER_MS) return 'late';
    }
    return v.status;
  }

  function render() {
    const list = $('[data-testid="visits"]');
    if (!state.token) return;
    list.textContent = '';
    for (const v of state.visits) list.append(visitCard(v));
    $('[data-testid="no-visits"]').hidden = state.visits.length > 0;
  }

  function visitCard(v) {
    const s = stateOf(v);
    const card = h(
      'li',
      { class: `visit state-${s}`, 'data-testid': 'visit', 'data-visit-id': v.id, 'data-state': s },
      h(
        'div',
        { class: 'visit-head' },
        h('span', { class: 'visit-time', 'data-testid': 'visit-time' }, time(v.scheduled_start)),
        h('span', { class: `badge badge-${s}`, 'data-testid': 'visit-state' }, t(STATE_LABELS[s] || s)),
      ),
      h('h2', { class: 'visit-name', 'data-testid': 'visit-resident' }, v.resident.name),
      h('p', { class: 'visit-service', 'data-testid': 'visit-service' }, v.service.name),
      place(v),
      v.resident.notes ? h('p', { class: 'notes', 'data-testid': 'care-notes' }, v.resident.notes) : null,
      v.note ? h('p', { class: 'notes' }, v.note) : null,
      access(v),
      v.responder ? responder(v.responder) : null,
      doorRecords(v),
      exceptions(v),
      h('p', { class: 'visit-error', 'data-testid': 'visit-error', role: 'alert', hidden: true }),
      actions(v, s),
    );
    return card;
  }

  function place(v) {
    const r = v.resident;
    const loc = r.location;
    return h(
      'div',
      { class: 'place' },
      h('p', { class: 'address', 'data-testid': 'visit-address' }, r.address || t('No address on record')),
      loc
        ? h(
            'a',
            {
              class: 'button ghost map',
              'data-testid': 'map-link',
              href: `https://www.openstreetmap.org/?mlat=${loc.lat}&mlon=${loc.lon}#map=18/${loc.lat}/${loc.lon}`,
              target: '_blank',
              rel: 'noopener noreferrer',
            },
            t('Open the map'),
          )
        : null,
    );
  }

  /** How to get in: the instructions, and the key safe code on demand. */
  function access(v) {
    const a = v.access || (v.responder && v.responder.access);
    if (!a || (!a.instructions && !a.key_safe)) return null;
    const box = h(
      'section',
      { class: 'access', 'data-testid': 'access' },
      h('h3', {}, t('How to get in')),
      a.instructions ? h('p', { 'data-testid': 'access-instructions' }, a.instructions) : null,
    );
    if (a.key_safe && ['assigned', 'checked_in', 'missed'].includes(v.status)) {
      const code = h('output', { class: 'key-code', 'data-testid': 'key-safe-code', hidden: true });
      const button = h(
        'button',
        { type: 'button', class: 'ghost', 'data-testid': 'key-safe-show' },
        t('Show key safe code'),
      );
      button.addEventListener('click', async () => {
        button.disabled = true;
        try {
          const res = await api('POST', `/visits/${v.id}/key-safe`);
          code.textContent = res.code;
          code.hidden = false;
          button.hidden = true;
          setTimeout(() => {
            code.textContent = '';
            code.hidden = true;
            button.hidden = false;
          }, KEY_SAFE_SHOWN_MS);
        } catch (err) {
          visitError(v.id, `${t('Could not get the code')}: ${describe(err)}`);
        } finally {
          button.disabled = false;
        }
      });
      box.append(button, code);
    }
    return box;
  }

  /** What a responder needs at the door of a visit dispatched from an alert or planned after a discharge. */
  function responder(r) {
    const list = (items, testid, fmt) =>
      items && items.length ? h('ul', { 'data-testid': testid }, items.map((i) => h('li', {}, fmt(i)))) : null;
    const partners = r.from_partners || {};
    // What a hospital or family doctor sent, beside what staff wrote: marked with who sent it, and when.
    const sent = (testid, items) =>
      items && items.length
        ? h(
            'ul',
            { class: 'from-partners', 'data-testid': testid },
            items.map((i) =>
              h(
                'li',
                { 'data-record-id': i.record_id },
                i.text,
                i.detail ? ` · ${i.detail}` : '',
                ' ',
                h(
                  'span',
                  { class: 'source', 'data-testid': 'partner-source' },
                  t('from {source}, {date}', { source: i.source, date: I.dateTime(new Date(i.received_at), { dateStyle: 'medium' }) }),
                ),
              ),
            ),
          )
        : null;
    const both = (mine, theirs) => (mine || theirs ? [mine, theirs].filter(Boolean) : null);
    const row = (title, content) => (content ? [h('h4', {}, t(title)), ...[content].flat()] : null);
    const contacts = list(r.emergency_contacts, 'contacts', (c) =>
      h(
        'span',
        {},
        `${c.name}${c.relation ? ` (${c.relation})` : ''} `,
        c.phone ? h('a', { class: 'phone', href: `tel:${c.phone}` }, c.phone) : null,
      ),
    );
    const directives = r.directives
      ? [r.directives.dnacpr ? t('Do not attempt CPR (DNACPR)') : null, r.directives.note].filter(Boolean).join(' · ')
      : '';
    return h(
      'section',
      { class: 'responder', 'data-testid': 'responder' },
      h('h3', {}, t('Responder sheet')),
      row('Emergency contacts', contacts),
      row('Allergies', both(list(r.allergies, 'allergies', (a) => a), sent('partner-allergies', partners.allergies))),
      row('Conditions', both(list(r.conditions, 'conditions', (c) => c), sent('partner-conditions', partners.conditions))),
      row(
        'Medications',
        both(
          list(r.medications, 'medications', (m) => [m.name, m.dose, m.schedule].filter(Boolean).join(' · ')),
          sent('partner-medications', partners.medications),
        ),
      ),
      row('Directives', directives ? h('p', { 'data-testid': 'directives' }, directives) : null),
    );
  }

  function doorRecords(v) {
    const line = (label, rec, testid) =>
      rec
        ? h(
            'p',
            { class: 'door', 'data-testid': testid },
            `${t(label)} ${time(rec.device_ts || rec.received_at)}`,
            rec.distance_m != null ? ` · ${t('{m} from home', { m: metres(rec.distance_m) })}` : '',
          )
        : null;
    return [line('Checked in', v.check_in, 'checked-in-at'), line('Checked out', v.check_out, 'checked-out-at')];
  }

  function exceptions(v) {
    const list = v.exceptions || [];
    if (!list.length) return null;
    return h(
      'ul',
      { class: 'exceptions', 'data-testid': 'exceptions' },
      list.map((e) => h('li', { 'data-exception': e }, t(EXCEPTION_LABELS[e] || e))),
    );
  }

  function actions(v, s) {
    if (s === 'completed' || s === 'cancelled' || s === 'requested') return null;
    const d = draft(v.id);
    const out = h('div', { class: 'actions' });
    const checkingOut = v.status === 'checked_in';
    if (checkingOut) {
      const tasks = v.service.tasks || [];
      if (tasks.length) {
        out.append(
          h(
            'fieldset',
            { class: 'tasks', 'data-testid': 'tasks' },
            h('legend', {}, t('Tasks')),
            tasks.map((task) => {
              const box = h('input', {
                type: 'checkbox',
                'data-testid': 'task',
                'data-code': task.code,
                checked: d.tasks.has(task.code),
              });
              box.addEventListener('change', () => {
                if (box.checked) d.tasks.add(task.code);
                else d.tasks.delete(task.code);
              });
              return h('label', { class: 'task' }, box, h('span', {}, task.name));
            }),
          ),
        );
      }
      const note = h('textarea', { 'data-testid': 'visit-note', rows: 3, maxlength: 2000 });
      note.value = d.note;
      note.addEventListener('input', () => {
        d.note = note.value;
      });
      out.append(h('label', { class: 'note' }, h('span', {}, t('Note for the record')), note));
    }
    const action = checkingOut ? 'check-out' : 'check-in';
    const gps = h(
      'button',
      { type: 'button', class: 'primary big', 'data-testid': action },
      t(checkingOut ? 'Check out here' : 'Check in here'),
    );
    gps.addEventListener('click', () => atDoor(v, action, 'gps'));
    out.append(gps);

    // The door's tag, when the phone cannot give a position.
    const method = h(
      'select',
      { 'data-testid': 'tag-method', 'aria-label': t('Tag kind') },
      h('option', { value: 'qr' }, 'QR'),
      h('option', { value: 'nfc' }, 'NFC'),
    );
    method.value = d.method;
    method.addEventListener('change', () => {
      d.method = method.value;
    });
    const tag = h('input', {
      type: 'text',
      'data-testid': 'tag',
      inputmode: 'text',
      autocomplete: 'off',
      placeholder: t('Code on the tag at the door'),
      'aria-label': t('Tag at the door'),
    });
    tag.value = d.tag;
    tag.addEventListener('input', () => {
      d.tag = tag.value.trim();
    });
    const byTag = h('button', { type: 'button', class: 'ghost', 'data-testid': `${action}-tag` }, t('Use the tag'));
    byTag.addEventListener('click', () => {
      if (!d.tag) return visitError(v.id, t('Type or scan the code on the tag first.'));
      atDoor(v, action, d.method);
    });
    out.append(
      h(
        'details',
        { class: 'by-tag' },
        h('summary', {}, t('No position? Use the tag at the door')),
        h('div', { class: 'tag-row' }, method, tag, byTag),
      ),
    );
    for (const b of out.querySelectorAll('button')) b.disabled = state.busy.has(v.id);
    return out;
  }

  function card(id) {
    return document.querySelector(`[data-testid="visit"][data-visit-id="${id}"]`);
  }

  /** An error under one visit, with a retry when there is something to retry. */
  function visitError(id, message, retry) {
    const el = card(id) && $('[data-testid="visit-error"]', card(id));
    if (!el) return showError(message, retry);
    el.textContent = message;
    el.hidden = !message;
    if (retry) {
      el.append(' ', h('button', { type: 'button', class: 'ghost', 'data-testid': 'visit-retry', onclick: retry }, t('Try again')));
    }
  }

  function position() {
    return new Promise((resolve, reject) => {
      if (!navigator.geolocation) {
        reject(Object.assign(new Error('no geolocation'), { geo: 'unavailable' }));
        return;
      }
      navigator.geolocation.getCurrentPosition(resolve, (e) => reject(Object.assign(new Error(e.message), { geo: e.code })), GEO_OPTIONS);
    });
  }

  function geoMessage(err) {
    if (err.geo === 1) {
      return t(
        'This page may not use your location. Allow location for this site in the browser settings and try again, or use the tag at the door.',
      );
    }
    if (err.geo === 'unavailable') return t('This browser cannot give a position: use the tag at the door.');
    return t('Your position could not be found. Step outside or near a window and try again, or use the tag at the door.');
  }

  async function atDoor(v, action, method) {
    const d = draft(v.id);
    if (state.busy.has(v.id)) return;
    state.busy.add(v.id);
    setBusy(v.id, true);
    visitError(v.id, '');
    try {
      const body = { method };
      if (method === 'gps') {
        let pos;
        try {
          pos = await position();
        } catch (err) {
          visitError(v.id, geoMessage(err), () => atDoor(v, action, method));
          return;
        }
        const c = pos.coords;
        body.location = { lat: c.latitude, lon: c.longitude, accuracy_m: Math.min(Math.round(c.accuracy || 0), 100_000) };
      } else {
        body.tag = d.tag;
        // A tag says where the carer is: the home's own position.
        const home = v.resident.location;
        if (!home) return visitError(v.id, t('This home has no position on record: check in with the phone\'s position.'));
        body.location = { lat: home.lat, lon: home.lon, accuracy_m: 0 };
      }
      if (action === 'check-out') {
        body.tasks = (v.service.tasks || []).map((task) => ({ code: task.code, done: d.tasks.has(task.code) }));
        if (d.note.trim()) body.note = d.note.trim();
      }
      // A retry after a network failure says when the carer really pressed.
      if (d.at && Date.now() - d.at < OFFLINE_MAX_MS) body.ts = new Date(d.at).toISOString();
      const pressed = Date.now();
      try {
        const res = await api('POST', `/visits/${v.id}/${action}`, body);
        state.drafts.delete(v.id);
        replace(v, res);
        await load();
      } catch (err) {
        if (err.code === 'network_error' && !d.at) d.at = pressed;
        const what = action === 'check-in' ? 'Check-in not sent' : 'Check-out not sent';
        visitError(v.id, `${t(what)}: ${describe(err)}`, () => atDoor(v, action, method));
      }
    } finally {
      state.busy.delete(v.id);
      setBusy(v.id, false);
    }
  }

  /** The answer of a check-in or -out, shown at once (the list reloads after). */
  function replace(v, res) {
    const i = state.visits.findIndex((x) => x.id === v.id);
    if (i < 0 || !res) return;
    state.visits[i] = { ...v, status: res.status, exceptions: res.evv ? res.evv.exceptions : v.exceptions };
    render();
  }

  function setBusy(id, busy) {
    const el = card(id);
    if (!el) return;
    el.classList.toggle('busy', busy);
    for (const b of el.querySelectorAll('.actions button')) b.disabled = busy;
  }

  document.addEventListener('DOMContentLoaded', boot);
})();
