// The family app's state, API client and small helpers, which its views share.

export const I = window.eldercareI18n;
export const t = I.t;
export const { h, KIND_LABELS } = window.eldercareCommon;

// An installed app is opened again days later: the family's session (30
// days idle on the server) outlives the tab, so the token is kept in
// localStorage, as are the chosen elder and the text size.
export const TOKEN_KEY = 'eldercare.family.token';
export const ELDER_KEY = 'eldercare.family.elder';
export const LARGE_KEY = 'eldercare.family.large';

export const state = {
  token: null,
  user: null,
  /** The residents linked to me (`GET /me/residents`). */
  elders: [],
  /** The chosen elder's id. */
  elder: null,
  view: null,
};

/** What the session module answers to a refused token (set at boot). */
export const hooks = { ended: () => {} };

export const api = window.eldercareCommon.client({
  token: () => state.token,
  onSessionEnded: () => hooks.ended(),
  networkMessage: 'No connection to the server.',
});

export const $ = (sel, root = document) => root.querySelector(sel);

export const elder = () => state.elders.find((e) => e.id === state.elder) || null;

/** A view's container, emptied. */
export function content(view) {
  const el = $(`[data-view="${view}"] .content`);
  el.textContent = '';
  return el;
}

export function describe(err) {
  if (err && err.code === 'network_error') return t('No connection to the server. Try again.');
  return err && err.code ? `${err.message} (${err.code})` : String((err && err.message) || err);
}

/** What "Try again" under the error runs: the load that failed. */
let retrying = null;

export function showError(err, what, retry) {
  const box = $('[data-testid="error"]');
  $('.error-text', box).textContent = what ? `${t(what)}: ${describe(err)}` : describe(err);
  retrying = retry || null;
  $('[data-testid="error-retry"]').hidden = !retry;
  box.hidden = false;
}

export function clearError() {
  $('[data-testid="error"]').hidden = true;
  retrying = null;
}

/** "Try again": the error goes, and what failed runs again. */
export function retry() {
  const again = retrying;
  clearError();
  if (again) again();
}

/** Says something to screen readers (a fresh node, so repeats are read too). */
export function announce(text) {
  const region = $('#announce');
  region.textContent = '';
  setTimeout(() => {
    region.textContent = text;
  }, 50);
}

/** An error of one action, under the form that tried it. */
export function formError(form, err, what) {
  let el = $('.form-error', form);
  if (!el) {
    el = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'form-error' });
    form.append(el);
  }
  el.textContent = err ? `${t(what)}: ${describe(err)}` : '';
  el.hidden = !err;
}

// ---------------------------------------------------------- formatting

/** Times in the elder's own time zone: her meals and visits are hers. */
const zone = () => (elder() && elder().timezone) || undefined;

export const clock = (iso) => (iso ? I.dateTime(new Date(iso), { hour: '2-digit', minute: '2-digit', timeZone: zone() }) : '—');

export const when = (iso) =>
  iso
    ? I.dateTime(new Date(iso), { weekday: 'short', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZone: zone() })
    : '—';

/** A local date (YYYY-MM-DD) as people read it. */
export const day = (date) =>
  I.dateTime(new Date(`${date}T12:00:00Z`), { weekday: 'long', month: 'long', day: 'numeric', timeZone: 'UTC' });

const pad = (n) => String(n).padStart(2, '0');

/** The elder's wall clock at an instant, as numbers. */
function wall(at) {
  const p = {};
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone: zone(),
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
  for (const part of format.formatToParts(at)) p[part.type] = Number(part.value);
  return p;
}

/** The elder's date today, plus `days`, as YYYY-MM-DD. */
export function localDate(days = 0, from = new Date()) {
  const p = wall(new Date(from.getTime() + days * 86_400_000));
  return `${p.year}-${pad(p.month)}-${pad(p.day)}`;
}

/** The instant of a time on the elder's clock (`YYYY-MM-DDTHH:MM`, as a
 * datetime-local input gives it): the family may be in another zone. */
export function instant(local) {
  const [y, m, d, hh, mm] = local.split(/[-T:]/).map(Number);
  const target = Date.UTC(y, m - 1, d, hh, mm);
  let at = target;
  // Twice: the second pass settles a time next to a change of offset.
  for (let i = 0; i < 2; i += 1) {
    const p = wall(new Date(at));
    at -= Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - target;
  }
  return new Date(at);
}

export const money = (yuan) => I.number(Number(yuan) || 0, { style: 'currency', currency: 'CNY' });

export const minutes = (m) => {
  const hours = Math.floor(m / 60);
  const rest = Math.round(m % 60);
  if (!hours) return t('{m} min', { m: rest });
  return rest ? t('{h} h {m} min', { h: hours, m: rest }) : t('{h} h', { h: hours });
};

const humanize = (s) => String(s || '').replace(/[_.]/g, ' ');

/** A label from a table, translated; the value itself when the table lacks it. */
export const label = (table, key) => t(table[key] || humanize(key));

export const kindLabel = (kind) => t(KIND_LABELS[kind] || humanize(kind));

/** The first name only, as the family is told who came. */
export const firstName = (name) => (name ? String(name).trim().split(/\s+/)[0] : '');

/** A term and its value, for a `dl`. */
export const fact = (term, value, testid) =>
  h('div', { class: 'fact' }, h('dt', {}, t(term)), h('dd', { 'data-testid': testid }, value));

/** A short text saying there is nothing to show. */
export const nothing = (text, testid) => h('p', { class: 'muted empty', 'data-testid': testid }, t(text));

/**
 * Runs a load for a view, showing a failure in the page with a retry;
 * `what` names what was being loaded.
 */
export async function loading(what, run) {
  try {
    await run();
  } catch (err) {
    if (err.status !== 401) showError(err, what, () => loading(what, run));
  }
}

/**
 * A step that cannot be taken back, asked twice: `ask` shows the question,
 * `yes` does it (`run`; a failure shows under `where`), `no` changes
 * nothing. `testid` names the three buttons (`-confirm`, `-keep`).
 */
export function confirming(testid, ask, yes, where, failed, run) {
  const box = h('div', { class: 'actions' });
  const first = h('button', { type: 'button', class: 'ghost', 'data-testid': testid }, ask);
  const sure = h('button', { type: 'button', class: 'danger', 'data-testid': `${testid}-confirm`, hidden: true }, yes);
  const keep = h('button', { type: 'button', class: 'ghost', 'data-testid': `${testid}-keep`, hidden: true }, t('Keep it'));
  const asking = (on) => {
    first.hidden = on;
    sure.hidden = !on;
    keep.hidden = !on;
    (on ? sure : first).focus();
  };
  first.addEventListener('click', () => asking(true));
  keep.addEventListener('click', () => asking(false));
  sure.addEventListener('click', async () => {
    sure.disabled = true;
    try {
      await run();
    } catch (err) {
      formError(where, err, failed);
      sure.disabled = false;
    }
  });
  box.append(first, sure, keep);
  return box;
}
