// The platform operator's divisions: the ladder from districts down to
// grids, a new division under the one shown, and which division an
// institution belongs to.

import { $, h, state, t } from './base.js';
import { announce, api, showError } from './session.js';
import { inlineError } from './panel.js';

const LEVELS = ['district', 'street', 'community', 'grid'];
export const LEVEL_LABELS = { district: 'District', street: 'Street', community: 'Community', grid: 'Grid' };
const levelLabel = (level) => t(LEVEL_LABELS[level] || level || '');

const ladder = { built: false, trail: [], token: null, institutions: [] };

/** The divisions view, the first time it is shown. */
export function openDivisions() {
  if (ladder.built) return;
  ladder.built = true;
  const body = $('.divisions-body', $('#divisions'));
  body.replaceChildren(
    h('nav', { class: 'trail', 'data-testid': 'division-trail', 'aria-label': t('Where in the ladder') }),
    h('ul', { class: 'division-list', 'data-testid': 'division-list' }),
    createForm(),
    institutionForm(),
  );
  browse([]);
  loadInstitutions();
}

/** Builds the view again (in another language). */
export function redrawDivisions() {
  if (!ladder.built) return;
  const trail = ladder.trail;
  resetDivisions();
  openDivisions();
  if (trail.length) browse(trail);
}

/** Forgets what was shown (at logout). */
export function resetDivisions() {
  ladder.built = false;
  ladder.trail = [];
  ladder.token = null;
  ladder.institutions = [];
  $('.divisions-body', $('#divisions')).replaceChildren();
}

/** Shows the children of the last division of `trail` (the districts when empty). */
async function browse(trail) {
  const token = {};
  ladder.token = token;
  ladder.trail = trail;
  const parent = trail.length ? trail[trail.length - 1] : null;
  const list = $('[data-testid="division-list"]');
  list.replaceChildren(h('li', { class: 'muted' }, 'Loading…'));
  drawTrail();
  suggestNew(parent);
  const divisions = [];
  try {
    let cursor = null;
    do {
      const params = new URLSearchParams({ limit: '1000' });
      if (parent) params.set('parent', parent.code);
      if (cursor) params.set('cursor', cursor);
      const res = await api('GET', `/divisions?${params}`);
      divisions.push(...(res.divisions || []));
      cursor = res.next_cursor || null;
    } while (cursor && ladder.token === token);
  } catch (err) {
    if (ladder.token === token) list.replaceChildren(h('li', {}, inlineError(err)));
    return;
  }
  if (ladder.token !== token) return;
  if (!divisions.length) {
    list.replaceChildren(h('li', { class: 'muted', 'data-testid': 'no-divisions' }, parent ? 'No divisions under this one yet.' : 'No districts yet.'));
    return;
  }
  list.replaceChildren(
    ...divisions.map((d) =>
      h(
        'li',
        { class: 'division', 'data-testid': 'division-row', 'data-code': d.code },
        d.level === 'grid'
          ? h('span', { class: 'division-name' }, d.name)
          : h('button', { type: 'button', class: 'link division-name', 'data-testid': 'division-open', onclick: () => browse([...trail, d]) }, d.name),
        h('span', { class: 'division-code' }, d.code),
        h('span', { class: 'muted' }, levelLabel(d.level)),
      ),
    ),
  );
}

function drawTrail() {
  const nav = $('[data-testid="division-trail"]');
  const steps = [h('button', { type: 'button', class: 'link', 'data-testid': 'division-trail-top', onclick: () => browse([]) }, 'All districts')];
  ladder.trail.forEach((d, i) => {
    steps.push(' › ');
    const last = i === ladder.trail.length - 1;
    steps.push(
      last
        ? h('strong', { 'aria-current': 'location', 'data-testid': 'division-current' }, `${d.name} (${d.code})`)
        : h('button', { type: 'button', class: 'link', onclick: () => browse(ladder.trail.slice(0, i + 1)) }, d.name),
    );
  });
  nav.replaceChildren(...steps);
}

/** Prefills the new division's form for a child of `parent`. */
function suggestNew(parent) {
  const code = $('[data-testid="division-code"]');
  const level = $('[data-testid="division-level"]');
  const next = parent ? LEVELS[LEVELS.indexOf(parent.level) + 1] : 'district';
  $('[data-testid="division-create-title"]').textContent = parent
    ? t('New division under {name}', { name: parent.name })
    : t('New district');
  if (next) level.value = next;
  if (parent && !code.value.startsWith(parent.code)) code.value = parent.code;
  if (!parent) code.value = '';
}

function createForm() {
  const code = h('input', { id: 'division-code', 'data-testid': 'division-code', required: true, inputmode: 'numeric', pattern: '[0-9]{6,15}', maxlength: 15, autocomplete: 'off' });
  const name = h('input', { id: 'division-name', 'data-testid': 'division-name', required: true, maxlength: 200, autocomplete: 'off' });
  const level = h('select', { id: 'division-level', 'data-testid': 'division-level' }, LEVELS.map((l) => h('option', { value: l }, LEVEL_LABELS[l])));
  const error = h('p', { class: 'inline-error', role: 'alert', hidden: true, 'data-testid': 'division-create-error' });
  return h(
    'form',
    {
      class: 'card-form',
      'data-testid': 'division-create-form',
      novalidate: true,
      onsubmit: async (e) => {
        e.preventDefault();
        const button = $('button[type="submit"]', e.currentTarget);
        error.hidden = true;
        if (!code.value.trim() || !name.value.trim()) {
          error.textContent = t('Give the code and the name.');
          error.hidden = false;
          (code.value.trim() ? name : code).focus();
          return;
        }
        button.disabled = true;
        try {
          const made = await api('POST', '/divisions', { code: code.value.trim(), name: name.value.trim(), level: level.value });
          announce(t('Division {name} created.', { name: made.name || name.value.trim() }));
          name.value = '';
          code.value = '';
          await browse(ladder.trail);
        } catch (err) {
          error.textContent = `${err.message} (${err.code || 'error'})`;
          error.hidden = false;
        } finally {
          button.disabled = false;
        }
      },
    },
    h('h3', { 'data-testid': 'division-create-title' }, 'New district'),
    h('div', { class: 'form-row' }, h('label', { for: 'division-code' }, 'Code'), code),
    h('div', { class: 'form-row' }, h('label', { for: 'division-name' }, 'Name'), name),
    h('div', { class: 'form-row' }, h('label', { for: 'division-level' }, 'Level'), level),
    error,
    h('button', { type: 'submit', class: 'primary', 'data-testid': 'division-create' }, 'Create division'),
  );
}

// ------------------------------------------------------- institutions

function institutionForm() {
  const select = h('select', { id: 'institution-select', 'data-testid': 'institution-select' });
  const code = h('input', { id: 'institution-division', 'data-testid': 'institution-division', inputmode: 'numeric', maxlength: 15, autocomplete: 'off' });
  const note = h('p', { class: 'muted', 'data-testid': 'institution-current', 'aria-live': 'polite' });
  const error = h('p', { class: 'inline-error', role: 'alert', hidden: true, 'data-testid': 'institution-division-error' });
  select.addEventListener('change', () => showCurrent());
  return h(
    'form',
    {
      class: 'card-form',
      'data-testid': 'institution-division-form',
      novalidate: true,
      onsubmit: async (e) => {
        e.preventDefault();
        const id = select.value;
        if (!id) return;
        const button = $('button[type="submit"]', e.currentTarget);
        error.hidden = true;
        button.disabled = true;
        const division = code.value.trim() || null;
        try {
          const saved = await api('PATCH', `/institutions/${encodeURIComponent(id)}`, { division });
          const i = ladder.institutions.findIndex((x) => x.id === id);
          if (i >= 0) ladder.institutions[i] = { ...ladder.institutions[i], ...saved };
          drawInstitutions(id);
          announce(t('Division saved.'));
        } catch (err) {
          error.textContent = `${err.message} (${err.code || 'error'})`;
          error.hidden = false;
        } finally {
          button.disabled = false;
        }
      },
    },
    h('h3', {}, "An institution's division"),
    h('div', { class: 'form-row' }, h('label', { for: 'institution-select' }, 'Institution'), select),
    note,
    h('div', { class: 'form-row' }, h('label', { for: 'institution-division' }, 'Division code (empty for none)'), code),
    error,
    h('button', { type: 'submit', class: 'primary', 'data-testid': 'institution-division-save' }, 'Save division'),
  );
}

async function loadInstitutions() {
  const all = [];
  try {
    let cursor = null;
    do {
      const params = new URLSearchParams({ limit: '1000' });
      if (cursor) params.set('cursor', cursor);
      const res = await api('GET', `/institutions?${params}`);
      all.push(...(res.institutions || []));
      cursor = res.next_cursor || null;
    } while (cursor);
  } catch (err) {
    if (err.status !== 401) showError(err, 'Could not load the institutions');
    return;
  }
  if (!state.user) return;
  ladder.institutions = all;
  drawInstitutions(null);
}

function drawInstitutions(selected) {
  const select = $('[data-testid="institution-select"]');
  if (!select) return;
  select.replaceChildren(
    ...ladder.institutions.map((i) => h('option', { value: i.id }, i.division ? `${i.name} · ${i.division}` : i.name)),
  );
  if (selected) select.value = selected;
  showCurrent();
}

function showCurrent() {
  const select = $('[data-testid="institution-select"]');
  const inst = ladder.institutions.find((i) => i.id === select.value);
  const note = $('[data-testid="institution-current"]');
  const code = $('[data-testid="institution-division"]');
  if (!inst) {
    note.textContent = t('No institutions yet.');
    return;
  }
  note.textContent = inst.division ? t('In division {code}.', { code: inst.division }) : t('In no division yet.');
  code.value = inst.division || '';
}
