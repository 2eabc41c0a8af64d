// Her day at a glance: whether she is at home, her meals, how she slept,
// her vitals, the day's alerts and whether her devices are working.

import { I, api, clock, content, elder, fact, h, label, loading, minutes, state, t } from './base.js';

const PRESENCE = {
  in: ['At home', 'At home since {time}'],
  out: ['Out', 'Out since {time}'],
  unsure: ['Not sure whether she is at home', 'Not sure whether she is at home since {time}'],
};
export const MEAL_LABELS = { breakfast: 'Breakfast', lunch: 'Lunch', dinner: 'Dinner' };
const MEAL_STATUS = {
  taken: 'Eaten',
  missed: 'Missed',
  in_progress: 'Not yet',
  upcoming: 'Later today',
  eaten_out: 'Eaten out',
  not_recorded: 'Not recorded',
};
export const ORDER_STATUS = {
  planned: 'Ordered',
  delivered: 'Delivered',
  no_answer: 'Nobody answered the door',
  refused: 'Refused',
  cancelled: 'Cancelled',
};
const METRICS = {
  heart_rate: 'Heart rate',
  respiratory_rate: 'Breathing rate',
  spo2: 'SpO₂',
  body_temperature: 'Temperature',
  bp_systolic: 'Blood pressure (systolic)',
  bp_diastolic: 'Blood pressure (diastolic)',
  blood_glucose: 'Blood glucose',
};
const UNITS = { Cel: '°C', 'mm[Hg]': 'mmHg' };

let generation = 0;

export async function load() {
  const id = state.elder;
  const mine = ++generation;
  await loading('Could not load her day', async () => {
    const [summary, presence] = await Promise.all([
      api('GET', `/residents/${id}/summary`),
      api('GET', `/residents/${id}/presence`).catch(() => null),
    ]);
    if (mine === generation && id === state.elder) render(summary, presence);
  });
}

function presenceCard(presence) {
  const periods = (presence && presence.periods) || [];
  const now = periods[periods.length - 1];
  if (!now) return h('p', { class: 'presence muted', 'data-testid': 'presence', 'data-state': 'unknown' }, t('No sign of her at home or out yet today.'));
  const [short, long] = PRESENCE[now.presence] || [now.presence, now.presence];
  return h(
    'p',
    { class: `presence presence-${now.presence}`, 'data-testid': 'presence', 'data-state': now.presence },
    h('strong', {}, t(short)),
    h('span', {}, t(long, { time: clock(now.from) })),
  );
}

function meals(summary) {
  const orders = new Map(((summary.meal_service && summary.meal_service.orders) || []).map((o) => [o.meal, o]));
  const rows = summary.meals.map((m) => {
    const order = orders.get(m.meal);
    const seen = m.evidence ? ` · ${clock(m.evidence.at)}` : '';
    return h(
      'li',
      { 'data-meal': m.meal, 'data-status': m.status },
      h('strong', {}, label(MEAL_LABELS, m.meal)),
      ` ${label(MEAL_STATUS, m.status)}${seen}`,
      order ? h('span', { class: 'muted' }, ` · ${t('Meal service')}: ${label(ORDER_STATUS, order.status)}`) : null,
    );
  });
  for (const [meal, order] of orders) {
    if (!summary.meals.some((m) => m.meal === meal)) {
      rows.push(h('li', { 'data-meal': meal }, h('strong', {}, label(MEAL_LABELS, meal)), ` ${t('Meal service')}: ${label(ORDER_STATUS, order.status)}`));
    }
  }
  return rows.length ? h('ul', { class: 'plain', 'data-testid': 'today-meals' }, rows) : h('p', { class: 'muted' }, t('No meal times set.'));
}

function night(activity) {
  const n = activity.night;
  if (!n || n.in_bed_minutes == null) return t('No bed sensor reading for last night.');
  const exits = n.bed_exits ? t('up {n} times', { n: n.bed_exits }) : t('did not get up');
  return `${t('In bed {time}', { time: minutes(n.in_bed_minutes) })}, ${exits}`;
}

function vitals(summary) {
  if (!summary.vitals.length) return null;
  return h(
    'ul',
    { class: 'plain', 'data-testid': 'today-vitals' },
    summary.vitals.map((v) =>
      h(
        'li',
        { class: v.in_range === false ? 'out-of-range' : '' },
        h('strong', {}, label(METRICS, v.metric)),
        ` ${I.number(v.value, { maximumFractionDigits: 1 })} ${UNITS[v.unit] || v.unit} · ${clock(v.ts)}`,
        v.in_range === false ? h('span', { class: 'flag' }, ` ${t('outside her usual range')}`) : null,
      ),
    ),
  );
}

function render(summary, presence) {
  const el = content('today');
  const who = elder();
  const a = summary.activity;
  const alerts = summary.alerts;
  const devices = summary.devices;
  const parts = [
    h('p', { class: 'elder-title', 'data-testid': 'today-elder' }, who ? who.name : summary.resident.name),
    summary.away ? h('p', { class: 'notice', 'data-testid': 'away' }, t('Marked away: meals and activity are not checked.')) : null,
    presenceCard(presence),
    h('h3', {}, t('Meals')),
    meals(summary),
    h('h3', {}, t('Activity')),
    h(
      'dl',
      { class: 'facts' },
      fact('First activity', clock(a.first_activity_at), 'first-activity'),
      fact('Last activity', clock(a.last_activity_at), 'last-activity'),
      fact('Last night', night(a), 'night'),
      fact('Medication taken', a.medication.doses_taken ? t('{n} times, last at {time}', { n: a.medication.doses_taken, time: clock(a.medication.last_taken_at) }) : t('None recorded'), 'medication'),
    ),
    summary.vitals.length ? h('h3', {}, t('Vital signs')) : null,
    vitals(summary),
    h('h3', {}, t('Alerts today')),
    h(
      'p',
      { 'data-testid': 'today-alerts' },
      alerts.items.length
        ? t('{open} waiting, {ack} being handled, {resolved} closed', { open: alerts.open, ack: alerts.acknowledged, resolved: alerts.resolved })
        : t('None today.'),
    ),
    h('h3', {}, t('Her devices')),
    h(
      'p',
      { 'data-testid': 'today-devices' },
      devices.total
        ? [
            t('{online} of {total} working', { online: devices.online, total: devices.total }),
            devices.low_battery ? ` · ${t('{n} need a new battery', { n: devices.low_battery })}` : '',
          ].join('')
        : t('No devices.'),
    ),
    h('p', { class: 'muted small' }, t('Updated {time}', { time: clock(summary.generated_at) })),
  ];
  el.append(...parts.filter(Boolean));
}
