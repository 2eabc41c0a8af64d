// Her meal plan, and the meals ordered for the next days: one she will
// not need (out with the family, at the doctor's) is cancelled here until
// the kitchen's cut-off on its day.

import { announce, api, confirming, content, day, fact, h, label, localDate, loading, nothing, state, t, when } from './base.js';
import { MEAL_LABELS, ORDER_STATUS } from './today.js';

const WEEKDAYS = [
  ['mon', 'Monday'],
  ['tue', 'Tuesday'],
  ['wed', 'Wednesday'],
  ['thu', 'Thursday'],
  ['fri', 'Friday'],
  ['sat', 'Saturday'],
  ['sun', 'Sunday'],
];
const DELIVERY = { home: 'Brought home', canteen: 'At the canteen' };
const DIETS = {
  diabetic: 'Diabetic',
  low_sodium: 'Low salt',
  renal: 'Kidney (renal)',
  vegetarian: 'Vegetarian',
  halal: 'Halal',
  gluten_free: 'Gluten free',
  low_fat: 'Low fat',
};
const TEXTURES = {
  regular: 'Regular',
  iddsi_7: 'Easy to chew (IDDSI 7)',
  iddsi_6: 'Soft and bite-sized (IDDSI 6)',
  iddsi_5: 'Minced and moist (IDDSI 5)',
  iddsi_4: 'Puréed (IDDSI 4)',
};
const PAYS = { subsidy: 'Subsidised', self_pay: 'Paid by her' };

let generation = 0;

export async function load() {
  const id = state.elder;
  const mine = ++generation;
  await loading('Could not load her meals', async () => {
    const res = await api('GET', `/residents/${id}/meal-plan`);
    if (mine === generation) render(id, res);
  });
}

const dayName = (date) => {
  if (date === localDate(0)) return t('Today');
  if (date === localDate(1)) return t('Tomorrow');
  return day(date);
};

function render(id, res) {
  const el = content('meals');
  const plan = res.plan;
  if (!plan) {
    el.append(nothing('No meal service for her. The care team can set one up.', 'no-meal-plan'));
    return;
  }
  const days = WEEKDAYS.map(([key, name]) => {
    const meals = plan.days[key] || [];
    return fact(name, meals.length ? meals.map((m) => label(MEAL_LABELS, m)).join(', ') : '—');
  });
  el.append(
    h('h3', {}, t('Coming meals')),
    orders(id, res.orders || []),
    h('h3', {}, t('Her plan')),
    h(
      'dl',
      { class: 'facts', 'data-testid': 'meal-plan' },
      fact('Where', label(DELIVERY, plan.delivery)),
      fact('Diet', plan.diet.length ? plan.diet.map((d) => label(DIETS, d)).join(', ') : t('No special diet')),
      fact('Texture', label(TEXTURES, plan.texture)),
      fact('Allergies', plan.allergies.length ? plan.allergies.join(', ') : t('None')),
      fact('Paid', label(PAYS, plan.funding)),
      plan.suspended ? fact('Paused', t('{from} to {until}', { from: day(plan.suspended.from), until: day(plan.suspended.until) })) : null,
    ),
    h('h3', {}, t('Every week')),
    h('dl', { class: 'facts' }, days),
  );
}

function orders(id, list) {
  if (!list.length) return nothing('No meal ordered for the next days.', 'no-meal-orders');
  return h(
    'ol',
    { class: 'cards', 'data-testid': 'meal-orders' },
    list.map((o) => {
      const open = o.status === 'planned' && Date.now() < Date.parse(o.cancel_by);
      const row = h(
        'li',
        { class: `meal state-${o.status}`, 'data-testid': 'meal-order', 'data-date': o.date, 'data-meal': o.meal, 'data-status': o.status },
        h('div', { class: 'row' }, h('strong', {}, `${dayName(o.date)} · ${label(MEAL_LABELS, o.meal)}`), h('span', { class: `badge state-${o.status}`, 'data-testid': 'meal-status' }, label(ORDER_STATUS, o.status))),
        open ? h('p', { class: 'muted' }, t('Can be cancelled until {time}', { time: when(o.cancel_by) })) : null,
      );
      if (open) row.append(cancelling(id, o, row));
      return row;
    }),
  );
}

/** Cancel, then say yes: a meal cancelled by a slip is a meal she lacks. */
function cancelling(id, order, row) {
  const what = `${dayName(order.date)} · ${label(MEAL_LABELS, order.meal)}`;
  return confirming('meal-cancel', t('Cancel this meal'), t('Yes, cancel {what}', { what }), row, 'Not cancelled', async () => {
    await api('POST', `/residents/${id}/meal-orders/${order.date}/cancel`, { meal: order.meal });
    announce(t('{what} is cancelled.', { what }));
    await load();
  });
}
