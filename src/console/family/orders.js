// Ordering a service for her without knowing who provides it: the
// services the providers serving her area offer, what she would pay after
// her entitlements, a time; then the order followed step by step as the
// platform offers it to providers and one accepts.

import { $, announce, api, confirming, content, formError, h, instant, label, loading, localDate, money, nothing, state, t, when } from './base.js';

const STATUS = {
  offered: 'Waiting for a provider',
  accepted: 'Accepted',
  unmatched: 'No provider yet',
  scheduled: 'Booked',
  cancelled: 'Cancelled',
  done: 'Done',
};
const STEPS = {
  requested: 'Asked for',
  offered: 'Offered to {name}',
  declined: '{name} could not take it',
  lapsed: '{name} did not answer in time',
  accepted: '{name} accepted',
  unmatched: 'No provider left: the civil affairs bureau is finding one',
  scheduled: 'Booked',
  cancelled: 'Cancelled',
};
/** Orders still moving: the view asks again while one is. */
const MOVING = ['offered', 'accepted', 'unmatched'];
const POLL_MS = 10_000;

let generation = 0;
let timer = null;
let services = [];
/** The order just made, shown open. */
let latest = null;

export async function load() {
  const id = state.elder;
  const mine = ++generation;
  clearInterval(timer);
  timer = null;
  await loading('Could not load the services', async () => {
    const [offered, requests] = await Promise.all([
      api('GET', `/residents/${id}/services`),
      api('GET', `/service-requests?resident_id=${encodeURIComponent(id)}`),
    ]);
    if (mine !== generation) return;
    services = offered.services || [];
    const el = content('order');
    el.append(form(id), h('h3', {}, t('Her orders')), h('div', { 'data-testid': 'requests' }));
    renderRequests(requests.requests || []);
  });
}

export function leave() {
  clearInterval(timer);
  timer = null;
  generation += 1;
}

/** While an order is on its way, ask after it every few seconds. */
function follow(id, mine) {
  clearInterval(timer);
  timer = setInterval(async () => {
    try {
      const res = await api('GET', `/service-requests?resident_id=${encodeURIComponent(id)}`);
      if (mine === generation) renderRequests(res.requests || []);
    } catch {
      // The next round asks again.
    }
  }, POLL_MS);
}

function priceText(s) {
  if (!s.price) return t('The price shows once a provider is asked.');
  return t('She pays about {elder} of {amount}, after her entitlements, if {name} takes it.', {
    elder: money(s.price.elder_amount),
    amount: money(s.price.amount),
    name: s.institution_name,
  });
}

function form(id) {
  if (!services.length) return nothing('No provider serving her area offers a service yet.', 'no-services');
  const select = h(
    'select',
    { id: 'order-service', 'data-testid': 'order-service' },
    services.map((s) => h('option', { value: s.code }, s.price ? `${s.name} · ${money(s.price.elder_amount)}` : s.name)),
  );
  const about = h('p', { class: 'muted', 'data-testid': 'order-price', 'aria-live': 'polite' });
  const describe = () => {
    const s = services.find((x) => x.code === select.value);
    about.textContent = s ? `${t('{m} min', { m: s.duration_minutes })} · ${priceText(s)}` : '';
  };
  select.addEventListener('change', describe);
  describe();
  const at = h('input', { id: 'order-when', type: 'datetime-local', value: `${localDate(1)}T10:00`, 'data-testid': 'order-when' });
  const note = h('textarea', { id: 'order-note', rows: 2, maxlength: 2000, 'data-testid': 'order-note' });
  const send = h('button', { type: 'submit', class: 'primary', 'data-testid': 'order-submit' }, t('Ask for it'));
  const el = h(
    'form',
    { class: 'card stack', 'data-testid': 'order-form' },
    h('label', { for: 'order-service' }, t('Service')),
    select,
    about,
    h('label', { for: 'order-when' }, t('When would suit her (her time)')),
    at,
    h('label', { for: 'order-note' }, t('Note for the provider (optional)')),
    note,
    send,
  );
  el.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { resident_id: id, service_code: select.value };
    if (at.value) {
      const start = instant(at.value);
      if (Number.isNaN(start.getTime()) || start.getTime() < Date.now()) {
        return formError(el, new Error(t('Choose a time still to come.')), 'Not sent');
      }
      body.preferred_start = start.toISOString();
    }
    if (note.value.trim()) body.note = note.value.trim();
    send.disabled = true;
    try {
      const made = await api('POST', '/service-requests', body);
      latest = made.id;
      note.value = '';
      formError(el, null);
      announce(t('Asked. {status}', { status: label(STATUS, made.status) }));
      const res = await api('GET', `/service-requests?resident_id=${encodeURIComponent(id)}`);
      renderRequests(res.requests || []);
      const shown = $(`[data-testid="request"][data-request-id="${made.id}"]`);
      if (shown) shown.focus();
    } catch (err) {
      formError(el, err, 'Not sent');
    } finally {
      send.disabled = false;
    }
  });
  return el;
}

const serviceName = (code) => (services.find((s) => s.code === code) || {}).name || code;

function who(r) {
  if (r.offer) return t('Waiting for {name} to accept, until {time}', { name: r.offer.institution_name, time: when(r.offer.accept_by) });
  if (r.provider) return t('Provided by {name}', { name: r.provider.institution_name });
  if (r.status === 'unmatched') return t(STEPS.unmatched);
  return null;
}

function steps(r) {
  return h(
    'ol',
    { class: 'steps', 'data-testid': 'request-steps' },
    r.timeline.map((s) =>
      h(
        'li',
        { 'data-step': s.step },
        h('time', { datetime: s.at }, when(s.at)),
        ' ',
        t(STEPS[s.step] || s.step, { name: s.institution_name || t('a provider') }),
        s.reason ? ` (${s.reason})` : '',
      ),
    ),
  );
}

function card(r) {
  const el = h(
    'li',
    { class: `request state-${r.status}`, 'data-testid': 'request', 'data-request-id': r.id, 'data-status': r.status, tabindex: -1 },
    h('div', { class: 'row' }, h('strong', {}, serviceName(r.service_code)), h('span', { class: `badge state-${r.status}`, 'data-testid': 'request-status' }, label(STATUS, r.status))),
    h('p', { 'data-testid': 'request-provider' }, who(r)),
    r.preferred_start ? h('p', {}, t('Wanted for {time}', { time: when(r.preferred_start) })) : null,
    r.price
      ? h('p', { 'data-testid': 'request-price' }, t('She pays {elder} of {amount}', { elder: money(r.price.elder_amount), amount: money(r.price.amount) }))
      : null,
    h('details', { open: r.id === latest || undefined }, h('summary', {}, t('Every step')), steps(r)),
  );
  if (r.status === 'offered' || r.status === 'unmatched') {
    el.append(
      confirming('request-cancel', t('Withdraw the order'), t('Yes, withdraw it'), el, 'Not withdrawn', async () => {
        await api('POST', `/service-requests/${r.id}/cancel`, {});
        announce(t('The order is withdrawn.'));
        await load();
      }),
    );
  }
  return el;
}

function renderRequests(list) {
  const box = $('[data-testid="requests"]');
  if (!box) return;
  // Keep what the person opened and where they are.
  const open = new Set([...box.querySelectorAll('details[open]')].map((d) => d.closest('[data-request-id]').dataset.requestId));
  if (latest) open.add(latest);
  if (box.contains(document.activeElement) && document.activeElement.closest('.actions')) return;
  box.textContent = '';
  if (!list.length) {
    box.append(nothing('No orders yet.', 'no-requests'));
  } else {
    box.append(h('ol', { class: 'cards' }, list.map((r) => {
      const el = card(r);
      if (open.has(r.id)) el.querySelector('details').open = true;
      return el;
    })));
  }
  if (!list.some((r) => MOVING.includes(r.status))) {
    clearInterval(timer);
    timer = null;
  } else if (!timer) {
    follow(state.elder, generation);
  }
}
