// The elder registry: finding an elder by name, id number (whole or
// masked) or phone, within the caller's reach; who an elder is (identity
// only, never health) and which institutions they are enrolled with.

import { $, I18N, h, state, t } from './base.js';
import { announce, api, showError } from './session.js';
import { inlineError, section } from './panel.js';
import { openResidentPanel } from './resident.js';

export const GENDER_LABELS = { female: 'Female', male: 'Male' };
export const HOUSEHOLD_LABELS = {
  alone: 'Lives alone',
  with_spouse: 'With spouse',
  with_family: 'With family',
  other: 'Other household',
};
export const ECONOMIC_LABELS = {
  none: 'No assistance',
  low_income: 'Low income',
  dibao: 'Minimum living allowance (dibao)',
  tekun: 'Extreme hardship support (tekun)',
};
export const SERVICE_LABELS = {
  monitoring: 'Monitoring',
  home_care: 'Home care',
  meals: 'Meals',
  day_care: 'Day care',
  residential: 'Residential care',
};

const PAGE = 50;
const dash = '—';
const label = (labels, value) => (value ? t(labels[value] || value) : dash);
const ageText = (age) => (typeof age === 'number' ? t('{n} years', { n: age }) : dash);
const day = (iso) => (iso ? I18N.dateTime(new Date(iso), { year: 'numeric', month: 'short', day: 'numeric' }) : dash);

/** Whether the user sees only the registry: identity, never health data. */
export const registryOnly = () => state.user && (state.user.role === 'civil_affairs' || state.user.role === 'grid_worker');

// ---------------------------------------------------------------- search

const search = { wired: false, loaded: false, q: '', cursor: null, token: null };

/** The registry view, the first time it is shown: the elders in reach. */
export function openRegistry() {
  const form = $('[data-testid="registry-search"]');
  if (!search.wired) {
    search.wired = true;
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      runSearch($('[data-testid="registry-q"]').value.trim(), null);
    });
    $('[data-testid="registry-more"]').addEventListener('click', () => runSearch(search.q, search.cursor));
  }
  if (!search.loaded) {
    search.loaded = true;
    runSearch('', null);
  }
}

/** Shows the last search again (in another language). */
export function redrawRegistry() {
  if (search.loaded) runSearch(search.q, null);
}

/** Forgets the last search (at logout). */
export function resetRegistry() {
  search.loaded = false;
  search.q = '';
  search.cursor = null;
  search.token = null;
  $('[data-testid="registry-q"]').value = '';
  $('[data-testid="registry-results"]').replaceChildren();
  $('[data-testid="registry-status"]').textContent = '';
  $('[data-testid="registry-more"]').hidden = true;
}

async function runSearch(q, cursor) {
  const token = {};
  search.token = token;
  const status = $('[data-testid="registry-status"]');
  const list = $('[data-testid="registry-results"]');
  const more = $('[data-testid="registry-more"]');
  status.textContent = t('Searching…');
  more.disabled = true;
  const params = new URLSearchParams({ limit: String(PAGE) });
  if (q) params.set('q', q);
  if (cursor) params.set('cursor', cursor);
  let res;
  try {
    res = await api('GET', `/residents?${params}`);
  } catch (err) {
    if (search.token !== token) return;
    status.textContent = '';
    more.disabled = false;
    if (err.status !== 401) showError(err, 'Could not search the registry');
    return;
  }
  if (search.token !== token) return;
  search.q = q;
  search.cursor = res.next_cursor || null;
  const found = res.residents || [];
  for (const r of found) if (!state.residents.has(r.id)) state.residents.set(r.id, r);
  const rows = found.map(resultRow);
  if (cursor) list.append(...rows);
  else list.replaceChildren(...rows);
  const shown = list.children.length;
  const text = shown === 0 ? (q ? t('Nobody found for “{q}”.', { q }) : t('No elders in your reach.')) : t('{n} shown', { n: shown });
  status.textContent = text;
  if (!cursor) announce(text);
  more.hidden = !search.cursor;
  more.disabled = false;
}

function resultRow(r) {
  return h(
    'li',
    { class: 'registry-row', 'data-testid': 'registry-row', 'data-resident-id': r.id },
    h(
      'button',
      { type: 'button', class: 'link registry-name', 'data-testid': 'registry-open', onclick: (e) => openResidentPanel(r.id, e.currentTarget) },
      r.name,
    ),
    h(
      'dl',
      { class: 'facts' },
      h('div', {}, h('dt', {}, 'ID number'), h('dd', { class: 'id-number', 'data-testid': 'registry-id-number' }, r.id_number || dash)),
      h('div', {}, h('dt', {}, 'Age'), h('dd', { 'data-testid': 'registry-age' }, ageText(r.age))),
      h('div', {}, h('dt', {}, 'Division'), h('dd', { 'data-testid': 'registry-division' }, r.division || dash)),
      h('div', {}, h('dt', {}, 'Household'), h('dd', { 'data-testid': 'registry-household' }, label(HOUSEHOLD_LABELS, r.household))),
    ),
  );
}

// ------------------------------------------------------------ identity

/** The registry's facts of a resident, for the resident panel. */
export function identityFacts(r) {
  const row = (title, value, testid) => h('div', {}, h('dt', {}, title), h('dd', { 'data-testid': testid }, value));
  const age = typeof r.age === 'number' ? `${ageText(r.age)}${r.birth_date ? ` (${day(r.birth_date)})` : ''}` : r.birth_date ? day(r.birth_date) : dash;
  return [
    row('ID number', h('span', { class: 'id-number' }, r.id_number || dash), 'resident-id-number'),
    row('Gender', label(GENDER_LABELS, r.gender), 'resident-gender'),
    row('Age', age, 'resident-age'),
    row('Phone', r.phone || dash, 'resident-phone'),
    row('Division', r.division || dash, 'resident-division'),
    row('Household', label(HOUSEHOLD_LABELS, r.household), 'resident-household'),
    row('Economic status', label(ECONOMIC_LABELS, r.economic_status), 'resident-economic-status'),
  ];
}

// ---------------------------------------------------------- enrolments

/** Who may end an enrolment: its institution's admin, or the bureau. */
function mayEnd(e) {
  const u = state.user;
  if (!u || u.session_kind === 'display' || !e.active) return false;
  if (u.role === 'civil_affairs') return true;
  return u.role === 'admin' && u.institution_id === e.institution_id;
}

/** The enrolments section of the resident panel, filled once loaded. */
export function enrolmentsSection(residentId, live) {
  const el = section('Enrolments', 'resident-enrolments', h('p', { class: 'muted' }, 'Loading…'));
  const fill = (...content) => {
    if (live()) el.replaceChildren(el.firstChild, ...content);
  };
  api('GET', `/residents/${encodeURIComponent(residentId)}/enrolments`).then(
    (res) => {
      const enrolments = res.enrolments || [];
      const draw = () => fill(enrolmentList(enrolments, draw, live));
      draw();
    },
    (err) => {
      // Out of the caller's reach or role: nothing to show, and no alarm.
      if (err.status === 403 || err.status === 404) fill(h('p', { class: 'muted' }, 'Enrolments are not shown to you.'));
      else if (err.status !== 401) fill(inlineError(err));
    },
  );
  return el;
}

function enrolmentList(enrolments, redraw, live) {
  if (!enrolments.length) return h('p', { class: 'muted', 'data-testid': 'no-enrolments' }, 'Not enrolled with any institution.');
  return h(
    'ul',
    { class: 'enrolments', 'data-testid': 'enrolment-list' },
    enrolments.map((e) =>
      h(
        'li',
        { class: `enrolment ${e.active ? 'active' : 'ended'}`, 'data-testid': 'enrolment', 'data-enrolment-id': e.id, 'data-active': String(e.active) },
        h(
          'div',
          { class: 'enrolment-head' },
          h('strong', { 'data-testid': 'enrolment-institution' }, e.institution_name || e.institution_id),
          h('span', { class: `pill ${e.active ? 'ok' : 'unknown'}`, 'data-testid': 'enrolment-state' }, e.active ? 'Active' : 'Ended'),
        ),
        h('p', { class: 'enrolment-services', 'data-testid': 'enrolment-services' }, (e.services || []).map((s) => t(SERVICE_LABELS[s] || s)).join(' · ')),
        h('p', { class: 'muted', 'data-testid': 'enrolment-period' }, e.until ? t('{from} to {until}', { from: day(e.from), until: day(e.until) }) : t('Since {from}', { from: day(e.from) })),
        mayEnd(e) ? endControl(e, enrolments, redraw, live) : null,
      ),
    ),
  );
}

/** "End enrolment", asking first, in place: nothing ends on one click. */
function endControl(e, enrolments, redraw, live) {
  const wrap = h('div', { class: 'enrolment-end' });
  const ask = () => {
    const confirmText = t('End the enrolment with {name} now? It no longer reaches this elder’s records.', { name: e.institution_name || '' });
    const yes = h('button', { type: 'button', class: 'primary', 'data-testid': 'enrolment-end-confirm' }, 'End it now');
    const no = h('button', { type: 'button', class: 'ghost', 'data-testid': 'enrolment-end-cancel', onclick: () => idle(true) }, 'Keep it');
    yes.addEventListener('click', async () => {
      yes.disabled = true;
      no.disabled = true;
      try {
        const ended = await api('PATCH', `/enrolments/${encodeURIComponent(e.id)}`, { until: new Date().toISOString() });
        if (!live()) return;
        const i = enrolments.findIndex((x) => x.id === e.id);
        if (i >= 0) enrolments[i] = { ...enrolments[i], ...ended };
        announce(t('Enrolment ended.'));
        redraw();
      } catch (err) {
        yes.disabled = false;
        no.disabled = false;
        if (err.status !== 401) showError(err, 'Could not end the enrolment');
      }
    });
    wrap.replaceChildren(h('p', { class: 'confirm', role: 'alert', 'data-testid': 'enrolment-end-question' }, confirmText), h('div', { class: 'actions' }, yes, no));
    no.focus();
  };
  const idle = (focus) => {
    const button = h('button', { type: 'button', 'data-testid': 'enrolment-end', onclick: ask }, 'End enrolment');
    wrap.replaceChildren(button);
    if (focus) button.focus();
  };
  idle(false);
  return wrap;
}
