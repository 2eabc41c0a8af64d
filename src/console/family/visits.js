// Her care visits: what is coming, what was done and by whom (the carer's
// first name only), and a rating for a visit done.

import { announce, api, content, formError, h, label, localDate, loading, minutes, nothing, state, t, when } from './base.js';

const STATUS = {
  requested: 'Asked for',
  scheduled: 'Booked',
  assigned: 'Booked',
  checked_in: 'Carer there now',
  completed: 'Done',
  cancelled: 'Cancelled',
  missed: 'Missed',
};
const CANCELLED_BECAUSE = {
  client_refused: 'she did not want it',
  client_not_home: 'she was not at home',
  client_hospitalised: 'she was in hospital',
  carer_unavailable: 'no carer was free',
  plan_changed: 'the plan changed',
  other: 'other reasons',
};
const COMING = ['requested', 'scheduled', 'assigned', 'checked_in'];

let generation = 0;

export async function load() {
  const id = state.elder;
  const mine = ++generation;
  await loading('Could not load the visits', async () => {
    const from = localDate(-30);
    const to = localDate(14);
    const res = await api('GET', `/residents/${id}/visits?from=${from}&to=${to}&limit=200`);
    if (mine === generation) render(res.visits || []);
  });
}

const at = (v) => v.start || v.scheduled_start || v.preferred_start;

function render(visits) {
  const el = content('visits');
  const coming = visits.filter((v) => COMING.includes(v.status)).sort((a, b) => Date.parse(at(a) || 0) - Date.parse(at(b) || 0));
  const past = visits.filter((v) => !COMING.includes(v.status)).sort((a, b) => Date.parse(at(b) || 0) - Date.parse(at(a) || 0));
  el.append(
    h('h3', {}, t('Coming up')),
    coming.length ? h('ol', { class: 'cards', 'data-testid': 'visits-coming' }, coming.map(card)) : nothing('No visit booked.', 'no-coming'),
    h('h3', {}, t('Done and past')),
    past.length ? h('ol', { class: 'cards', 'data-testid': 'visits-past' }, past.map(card)) : nothing('No visit in the last 30 days.', 'no-past'),
  );
}

function card(v) {
  const time = at(v);
  const tasks = (v.tasks || []).filter((task) => task.done);
  return h(
    'li',
    { class: `visit state-${v.status}`, 'data-testid': 'visit', 'data-visit-id': v.id, 'data-status': v.status },
    h('div', { class: 'row' }, h('strong', {}, v.service_name), h('span', { class: `badge state-${v.status}` }, label(STATUS, v.status))),
    h('p', {}, time ? when(time) : t('Time to be agreed')),
    v.caregiver ? h('p', { 'data-testid': 'visit-carer' }, t('Carer: {name}', { name: v.caregiver })) : null,
    v.minutes ? h('p', { class: 'muted' }, t('Stayed {time}', { time: minutes(v.minutes) })) : null,
    tasks.length ? h('p', { class: 'muted' }, `${t('Done')}: ${tasks.map((task) => task.code).join(', ')}`) : null,
    v.visit_note ? h('p', { class: 'notes' }, v.visit_note) : null,
    v.cancel_reason ? h('p', { class: 'muted' }, t('Cancelled: {why}', { why: label(CANCELLED_BECAUSE, v.cancel_reason) })) : null,
    v.rating ? rated(v.rating) : v.status === 'completed' ? rateForm(v) : null,
  );
}

function rated(rating) {
  return h(
    'p',
    { class: 'rating', 'data-testid': 'visit-rating' },
    h('span', { 'aria-hidden': 'true' }, '★'.repeat(rating.stars) + '☆'.repeat(5 - rating.stars)),
    h('span', { class: 'sr-only' }, t('{n} of 5 stars', { n: rating.stars })),
    rating.comment ? ` ${rating.comment}` : '',
  );
}

function rateForm(v) {
  const name = `stars-${v.id}`;
  const stars = [1, 2, 3, 4, 5].map((n) =>
    h(
      'label',
      { class: 'star' },
      h('input', { type: 'radio', name, value: n, 'data-testid': `star-${n}` }),
      h('span', { 'aria-hidden': 'true' }, '★'),
      h('span', { class: 'sr-only' }, t('{n} of 5 stars', { n })),
    ),
  );
  const commentId = `comment-${v.id}`;
  const comment = h('textarea', { id: commentId, rows: 2, maxlength: 2000, 'data-testid': 'rating-comment' });
  const send = h('button', { type: 'submit', class: 'primary', 'data-testid': 'rating-send' }, t('Send rating'));
  const form = h(
    'form',
    { class: 'stack rate', 'data-testid': 'rating-form' },
    h('fieldset', { class: 'stars' }, h('legend', {}, t('How was this visit?')), stars),
    h('label', { for: commentId }, t('Anything to add (optional)')),
    comment,
    send,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const chosen = form.querySelector(`input[name="${name}"]:checked`);
    if (!chosen) return formError(form, new Error(t('Choose from 1 to 5 stars.')), 'Not sent');
    send.disabled = true;
    try {
      const body = { stars: Number(chosen.value) };
      if (comment.value.trim()) body.comment = comment.value.trim();
      await api('POST', `/visits/${v.id}/rating`, body);
      announce(t('Thank you: your rating was sent.'));
      await load();
    } catch (err) {
      formError(form, err, 'Not sent');
      send.disabled = false;
    }
  });
  return form;
}
