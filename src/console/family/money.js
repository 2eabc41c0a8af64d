// Public money for her care: her applications and where each stands (and
// a new one), what she is entitled to, and a month's bill line by line.

import { $, I, announce, api, content, day, fact, formError, h, label, loading, localDate, minutes, money, nothing, state, t, when } from './base.js';

const KINDS = {
  ltc_insurance: 'Long-term care insurance',
  home_care_subsidy: 'Home care subsidy',
  meal_subsidy: 'Meal subsidy',
  respite: 'Respite care',
};
const STATUS = { submitted: 'Sent', assessing: 'Being assessed', approved: 'Approved', rejected: 'Refused' };
const STEPS = { submitted: 'Sent', assigned: 'Assessor assigned', assessed: 'Assessed', approved: 'Approved', rejected: 'Refused' };
const PAYERS = { ltc_insurance: 'Long-term care insurance', civil_affairs: 'Civil affairs bureau' };
const SERVICES = { monitoring: 'Monitoring', home_care: 'Home care', meals: 'Meals', day_care: 'Day care', residential: 'Residential care' };
const LINES = { visit: 'Visit', meal: 'Meal' };

let generation = 0;

/** Her month now, as YYYY-MM. */
const thisMonth = () => localDate(0).slice(0, 7);

export async function load() {
  const id = state.elder;
  const mine = ++generation;
  await loading('Could not load her applications and bills', async () => {
    const [applications, entitlements] = await Promise.all([
      api('GET', `/applications?resident_id=${encodeURIComponent(id)}`),
      api('GET', `/residents/${id}/entitlements`),
    ]);
    if (mine !== generation) return;
    const el = content('money');
    const month = h('input', { id: 'bill-month', type: 'month', value: thisMonth(), max: thisMonth(), 'data-testid': 'bill-month' });
    month.addEventListener('change', () => month.value && bill(id, month.value));
    el.append(
      h('h3', {}, t('Applications')),
      applicationList(applications.applications || []),
      applyForm(id),
      h('h3', {}, t('What she is entitled to')),
      entitlementList(entitlements.entitlements || []),
      h('h3', {}, t('Bill')),
      h('div', { class: 'stack' }, h('label', { for: 'bill-month' }, t('Month')), month),
      h('div', { 'data-testid': 'bill' }),
    );
    await bill(id, thisMonth());
  });
}

function applicationList(list) {
  if (!list.length) return nothing('No applications yet.', 'no-applications');
  return h(
    'ol',
    { class: 'cards', 'data-testid': 'applications' },
    list.map((a) =>
      h(
        'li',
        { 'data-testid': 'application', 'data-status': a.status },
        h('div', { class: 'row' }, h('strong', {}, label(KINDS, a.kind)), h('span', { class: `badge state-${a.status}` }, label(STATUS, a.status))),
        a.reason ? h('p', {}, a.reason) : null,
        h(
          'ol',
          { class: 'steps' },
          a.timeline.map((s) => h('li', {}, h('time', { datetime: s.at }, when(s.at)), ` ${label(STEPS, s.step)}`, s.note ? ` (${s.note})` : '')),
        ),
      ),
    ),
  );
}

function applyForm(id) {
  const kind = h('select', { id: 'apply-kind', 'data-testid': 'apply-kind' }, Object.keys(KINDS).map((k) => h('option', { value: k }, label(KINDS, k))));
  const note = h('textarea', { id: 'apply-note', rows: 2, maxlength: 2000 });
  const send = h('button', { type: 'submit', class: 'primary', 'data-testid': 'apply-submit' }, t('Apply'));
  const form = h(
    'form',
    { class: 'card stack', 'data-testid': 'apply-form' },
    h('label', { for: 'apply-kind' }, t('Apply for')),
    kind,
    h('label', { for: 'apply-note' }, t('Note (optional)')),
    note,
    send,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    send.disabled = true;
    try {
      const body = { resident_id: id, kind: kind.value };
      if (note.value.trim()) body.note = note.value.trim();
      await api('POST', '/applications', body);
      announce(t('The application is sent.'));
      await load();
    } catch (err) {
      formError(form, err, 'Not sent');
      send.disabled = false;
    }
  });
  return form;
}

function entitlementList(list) {
  if (!list.length) return nothing('No entitlements.', 'no-entitlements');
  return h(
    'ol',
    { class: 'cards', 'data-testid': 'entitlements' },
    list.map((e) =>
      h(
        'li',
        {},
        h('strong', {}, `${label(PAYERS, e.payer)} · ${e.scheme}`),
        h(
          'dl',
          { class: 'facts' },
          fact('Covers', e.services.map((s) => label(SERVICES, s)).join(', ')),
          e.monthly_minutes != null ? fact('Each month', `${minutes(e.monthly_minutes)} (${t('used {used}', { used: minutes(e.used_this_month.minutes) })})`) : null,
          e.monthly_amount != null ? fact('Each month', `${money(e.monthly_amount)} (${t('used {used}', { used: money(e.used_this_month.amount) })})`) : null,
          fact('She pays', I.percent(Number(e.copay_ratio) * 100, 0)),
          e.per_meal_subsidy != null ? fact('Per meal', money(e.per_meal_subsidy)) : null,
          fact('Valid', t('{from} to {until}', { from: day(e.from), until: day(e.until) })),
        ),
      ),
    ),
  );
}

async function bill(id, month) {
  const box = $('[data-testid="bill"]');
  try {
    const res = await api('GET', `/residents/${id}/bills?month=${month}`);
    box.textContent = '';
    if (!res.lines.length) {
      box.append(nothing('Nothing billed this month.', 'no-bill'));
      return;
    }
    box.append(
      h(
        'ol',
        { class: 'lines' },
        res.lines.map((l) =>
          h(
            'li',
            { 'data-testid': 'bill-line' },
            h('div', { class: 'row' }, h('span', {}, `${day(l.date)} · ${label(LINES, l.kind)} · ${l.service}`), h('strong', {}, money(l.elder_amount))),
            h(
              'p',
              { class: 'muted' },
              [
                l.institution_name,
                l.minutes ? minutes(l.minutes) : null,
                t('{amount} in all', { amount: money(l.amount) }),
                l.payer ? t('{payer} pays {amount}', { payer: label(PAYERS, l.payer), amount: money(l.payer_amount) }) : null,
                l.over_quota ? t('beyond her entitlement') : null,
              ]
                .filter(Boolean)
                .join(' · '),
            ),
          ),
        ),
      ),
      h(
        'dl',
        { class: 'facts totals', 'data-testid': 'bill-totals' },
        fact('In all', money(res.totals.amount)),
        fact('Paid for her', money(res.totals.payer_amount)),
        fact('She pays', money(res.totals.elder_amount)),
      ),
    );
  } catch (err) {
    box.textContent = '';
    formError(box, err, 'Could not load the bill');
  }
}
