// The resident panel: who they are, their enrolments, the day so far,
// devices, recent alerts, history. The civil-affairs bureau and grid
// workers see who the elder is and their enrolments, never health data.

import { $, fmtWhen, h, isStaff, state, t, time } from './base.js';
import { api } from './session.js';
import { inlineError, loading, openPanel, section } from './panel.js';
import { backtestForm, chart, devicesTable, midnightIn, recentAlerts, todaySummary } from './backtest.js';
import { enrolmentsSection, identityFacts, registryOnly } from './registry.js';
import { consentsSection } from './consents.js';

export async function openResidentPanel(residentId, opener) {
  const known = state.residents.get(residentId);
  const generation = openPanel('resident', residentId, known ? known.name : 'Resident', opener);
  const body = $('.panel-body', $('#panel'));
  const live = () => generation === state.panel.generation;
  if (registryOnly()) return openRegistryPanel(residentId, body, live);
  const display = state.user && state.user.session_kind === 'display';
  const place = {
    about: section('Resident', 'resident-about', loading()),
    enrolments: display ? null : enrolmentsSection(residentId, live),
    partners: display || !isStaff() ? null : consentsSection(residentId, live),
    funding: isStaff() ? section('Grade and entitlements', 'resident-funding', loading()) : null,
    today: section('Today', 'resident-today', loading()),
    vitals: section('Vital signs, last 24 hours', 'resident-vitals', loading()),
    alerts: section('Recent alerts', 'resident-alerts', loading()),
    routine: isStaff() ? section('Her routine, last 28 days', 'resident-routine', loading()) : null,
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
      ...identityFacts(resident),
      resident.notes ? h('div', { class: 'wide' }, h('dt', {}, 'Notes'), h('dd', {}, resident.notes)) : null,
    ),
    tz && tz !== Intl.DateTimeFormat().resolvedOptions().timeZone
      ? h('p', { class: 'tz-note muted' }, `Times in this panel are the resident's local time (${tz}).`)
      : null,
  );

  const q = encodeURIComponent;
  // The two weeks after a hospital discharge: her thresholds are to be reviewed.
  if (isStaff()) {
    api('GET', `/residents/${q(residentId)}/status`).then(
      (status) => {
        const flag = reviewFlag(status, tz);
        if (flag && live()) place.about.append(flag);
      },
      () => {},
    );
  }
  if (place.funding) {
    api('GET', `/residents/${q(residentId)}/entitlements`).then(
      (v) => fill(place.funding, ...fundingFacts(resident, v)),
      (err) => fill(place.funding, inlineError(err)),
    );
  }
  const now = new Date();
  const dayAgo = new Date(now.getTime() - 24 * 3600 * 1000);
  const midnight = midnightIn(tz);
  const devicesP = api('GET', `/devices?resident_id=${q(residentId)}`);
  const settled = (p) => p.then((v) => ({ ok: true, v }), (err) => ({ ok: false, err }));

  settled(devicesP).then((r) => fill(place.devices, r.ok ? devicesTable(r.v.devices || [], tz) : inlineError(r.err)));
  settled(api('GET', `/alerts?resident_id=${q(residentId)}&limit=10`)).then((r) =>
    fill(place.alerts, r.ok ? recentAlerts(r.v.alerts || [], tz) : inlineError(r.err)),
  );
  // Whether she is at home (from the entrance door and the motion indoors)
  // comes with the day's summary; the panel does without it if it fails.
  const presenceP = api('GET', `/residents/${q(residentId)}/summary`).then(
    (summary) => summary.presence || null,
    () => null,
  );
  // Today's stored presence periods: when she was out, or nobody could tell.
  const periodsP = api('GET', `/residents/${q(residentId)}/presence?from=${q(midnight.toISOString())}&to=${q(now.toISOString())}`).then(
    (body) => body.periods || [],
    () => [],
  );
  settled(
    Promise.all([api('GET', `/residents/${q(residentId)}/events?from=${q(midnight.toISOString())}&to=${q(now.toISOString())}`), devicesP.catch(() => ({ devices: [] })), presenceP, periodsP]),
  ).then((r) =>
    fill(
      place.today,
      ...(r.ok
        ? [r.v[2] ? presenceLine(r.v[2], tz) : null, awayToday(r.v[3], tz), todaySummary(r.v[0].events || [], r.v[1].devices || [], tz)].filter(Boolean)
        : [inlineError(r.err)]),
    ),
  );

  const range = `from=${q(dayAgo.toISOString())}&to=${q(now.toISOString())}&bucket=15m`;
  const settingsP = api('GET', `/residents/${q(residentId)}/rule-settings`);
  const thresholdsP = settingsP.then(
    (s) => (s && s.thresholds) || {},
    () => ({}),
  );
  if (place.routine) {
    settled(api('GET', `/residents/${q(residentId)}/routine`)).then((r) => fill(place.routine, r.ok ? routineFacts(r.v) : inlineError(r.err)));
  }
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

/** "Home from hospital: review her vital-sign thresholds until 2026-12-16", while that day has not passed. */
function reviewFlag(status, tz) {
  const until = status && status.vitals_review_until;
  const today = new Date().toLocaleDateString('en-CA', { timeZone: tz || undefined });
  if (!until || until < today) return null;
  return h(
    'p',
    { class: 'review-flag', role: 'status', 'data-testid': 'vitals-review', 'data-until': until },
    t('Home from hospital: review her vital-sign thresholds until {date}', { date: until }),
  );
}

/** Identity and enrolments only: what the registry's users may read. */
async function openRegistryPanel(residentId, body, live) {
  const about = section('Resident', 'resident-about', loading());
  const partners = state.user && state.user.role === 'civil_affairs' ? consentsSection(residentId, live) : null;
  body.replaceChildren(...[about, enrolmentsSection(residentId, live), partners].filter(Boolean));
  let resident;
  try {
    resident = await api('GET', `/residents/${encodeURIComponent(residentId)}`);
  } catch (err) {
    if (live()) about.replaceChildren(about.firstChild, inlineError(err));
    return;
  }
  if (!live()) return;
  state.residents.set(resident.id, resident);
  $('#panel-title').textContent = resident.name;
  about.replaceChildren(about.firstChild, h('dl', { class: 'facts-grid' }, ...identityFacts(resident)));
}

/** "Out since 10:37", "At home", or "Unsure whether at home since 10:37". */
function presenceLine(presence, tz) {
  const since = fmtWhen(presence.since, tz);
  const text =
    presence.state === 'out'
      ? t('Out since {time}', { time: since })
      : presence.state === 'unsure'
        ? t('Unsure whether at home since {time} (the door closed, nobody seen since)', { time: since })
        : t('At home');
  return h('p', { class: `presence presence-${presence.state}`, 'data-testid': 'resident-presence', 'data-state': presence.state }, text);
}

/** "Today: out 10:37–13:05; unsure 15:00–15:40": the day's periods not at home. */
function awayToday(periods, tz) {
  const away = periods.filter((p) => p.presence !== 'in' && p.until);
  if (!away.length) return null;
  const span = (p) => `${fmtWhen(p.from, tz)}–${fmtWhen(p.until, tz)}`;
  const items = away.map((p) => (p.presence === 'out' ? t('out {span}', { span: span(p) }) : t('unsure {span}', { span: span(p) })));
  return h('p', { class: 'presence-today', 'data-testid': 'resident-presence-today' }, t('Today: {list}', { list: items.join('; ') }));
}

const PART_LABELS = { night: 'at night', morning: 'in the morning', afternoon: 'in the afternoon', evening: 'in the evening' };

/** Minutes as "2 h 10 min". */
function duration(minutes) {
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return hours ? (rest ? t('{h} h {m} min', { h: hours, m: rest }) : t('{h} h', { h: hours })) : t('{m} min', { m: rest });
}

/** What her own weeks say: "usually up by 07:40; quiet spells up to 2 h 10 min in the afternoon". */
function routineFacts(routine) {
  if (!routine.learned) {
    return h('p', { class: 'muted', 'data-testid': 'routine-learning' }, t('Learning her routine: {n} of 7 days so far.', { n: routine.days }));
  }
  const lines = [];
  if (routine.rising) lines.push(t('Usually up by {time}', { time: routine.rising }));
  if (routine.bedtime) lines.push(t('in bed by {time}', { time: routine.bedtime }));
  for (const meal of routine.meals || []) {
    lines.push(meal.usual ? t('{meal} around {time}', { meal: t(meal.meal), time: meal.usual }) : t('{meal}: no sign at home on most days', { meal: t(meal.meal) }));
  }
  const out = routine.outings || {};
  if (out.days_out) {
    lines.push(t('out on {n} of {days} days, usually from {leave}, back by {back}', { n: out.days_out, days: routine.days, leave: out.usual_leave || '?', back: out.latest_return || '?' }));
  }
  const spells = (routine.quiet_spells || []).filter((q) => q.usual_max_minutes != null);
  return h(
    'div',
    { 'data-testid': 'routine' },
    h('p', {}, `${lines.join('; ')}.`),
    spells.length
      ? h(
          'p',
          { class: 'muted' },
          t('Quiet spells at home up to {list}.', {
            list: spells.map((q) => `${duration(q.usual_max_minutes)} ${t(PART_LABELS[q.part] || q.part)}`).join(', '),
          }),
        )
      : null,
  );
}

const PAYERS = { ltc_insurance: 'LTC insurance', civil_affairs: 'Civil affairs' };

/** Her capability grade, and each entitlement with this month's use of its quota. */
function fundingFacts(resident, body) {
  const grade = resident.grade
    ? h('p', { 'data-testid': 'resident-grade' }, `Grade ${resident.grade.grade} (${resident.grade.label}, ${resident.grade.scale})`)
    : h('p', { class: 'muted', 'data-testid': 'resident-grade' }, 'No valid capability assessment.');
  const today = new Date().toISOString().slice(0, 10);
  const running = (body.entitlements || []).filter((e) => e.until >= today && e.from <= today);
  if (!running.length) return [grade, h('p', { class: 'muted' }, 'No entitlement in force.')];
  const rows = running.map((e) => {
    const used = e.used_this_month || { minutes: 0, amount: 0 };
    let quota = 'no monthly quota';
    let over = false;
    if (e.monthly_minutes !== undefined) {
      quota = `${used.minutes} of ${e.monthly_minutes} min used in ${body.month}`;
      over = used.minutes >= e.monthly_minutes;
    } else if (e.monthly_amount !== undefined) {
      quota = `${Number(used.amount).toFixed(2)} of ${Number(e.monthly_amount).toFixed(2)} used in ${body.month}`;
      over = Number(used.amount) >= Number(e.monthly_amount);
    }
    const extras = [
      `co-payment ${Math.round(Number(e.copay_ratio) * 100)} %`,
      e.per_meal_subsidy !== undefined ? `${Number(e.per_meal_subsidy).toFixed(2)} a meal` : null,
      e.respite_days_per_year !== undefined ? `${e.respite_days_per_year} respite days a year` : null,
      `until ${e.until}`,
    ].filter(Boolean);
    return h(
      'li',
      { 'data-testid': 'entitlement', 'data-quota': over ? 'used_up' : 'within' },
      h('strong', {}, `${PAYERS[e.payer] || e.payer} · ${e.scheme} (grade ${e.grade})`),
      ': ',
      quota,
      over ? ' — beyond it, the elder pays all' : '',
      `; ${extras.join(', ')}`,
    );
  });
  return [grade, h('ul', { class: 'entitlements' }, ...rows)];
}
