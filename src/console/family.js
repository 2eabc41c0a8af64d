// The family app: the elder's day, her alerts and what is being done about
// them (live), messages with the care team, visits and their ratings,
// meals and cancelling one, ordering a service and following it, her
// applications and bills, and notifications on this phone. Plain
// JavaScript modules, nothing fetched from elsewhere; phone first. Served
// at /family/family.js, beside its modules (src/console/family/).

import './zh.js';
import { $, ELDER_KEY, I, LARGE_KEY, TOKEN_KEY, api, clearError, elder, h, hooks, retry, showError, state, t } from './base.js';
import * as today from './today.js';
import * as alerts from './alerts.js';
import * as messages from './messages.js';
import * as visits from './visits.js';
import * as meals from './meals.js';
import * as orders from './orders.js';
import * as money from './money.js';
import * as settings from './settings.js';

const VIEWS = { today, alerts, messages, visits, meals, order: orders, money, settings };

// ------------------------------------------------------------- session

function showView(which) {
  for (const el of document.querySelectorAll('[data-when]')) el.hidden = el.dataset.when !== which;
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
  const email = $('#login-email').value.trim();
  const password = $('#login-password').value;
  const code = $('#login-code').value.trim();
  error.hidden = true;
  if (!email || !password) {
    error.textContent = t('Enter your email and password.');
    error.hidden = false;
    return;
  }
  button.disabled = true;
  try {
    const body = { email, password };
    if (code) body.code = code;
    const res = await api('POST', '/auth/login', body);
    form.reset();
    $('[data-testid="totp"]').hidden = true;
    state.token = res.token;
    state.user = res.user;
    localStorage.setItem(TOKEN_KEY, res.token);
    start();
  } catch (err) {
    // The password was right and the account has a second factor: ask for it.
    if (err.code === 'totp_required') {
      $('[data-testid="totp"]').hidden = false;
      $('#login-code').focus();
      error.textContent = code ? t('That code is not right. Try the newest one.') : t('Enter the code from your authenticator app.');
    } else if (err.status === 401) {
      error.textContent = t('Wrong email or password.');
    } else if (err.status === 429) {
      error.textContent = t('Too many tries. Wait a few minutes and try again.');
    } else {
      error.textContent = `${t('Could not log in')}: ${err.message}`;
    }
    error.hidden = false;
  } finally {
    button.disabled = false;
  }
}

const ending = window.eldercareCommon.session({
  api,
  token: () => state.token,
  stop: () => alerts.stop(),
  reset,
  showLogin,
});

function reset() {
  localStorage.removeItem(TOKEN_KEY);
  state.token = null;
  state.user = null;
  state.elders = [];
  for (const view of Object.values(VIEWS)) if (view.leave) view.leave();
  alerts.reset();
  for (const el of document.querySelectorAll('[data-view] .content')) el.textContent = '';
  clearError();
}

hooks.ended = () => ending.ended();

async function start() {
  clearError();
  showView('app');
  try {
    const res = await api('GET', '/me/residents?limit=1000');
    state.elders = res.residents || [];
  } catch (err) {
    if (err.status !== 401) showError(err, 'Could not load your family members', start);
    return;
  }
  const remembered = localStorage.getItem(ELDER_KEY);
  state.elder = (state.elders.find((e) => e.id === remembered) || state.elders[0] || {}).id || null;
  renderElders();
  alerts.start();
  settings.registerWorker();
  route();
}

// ------------------------------------------------------------- elders

function renderElders() {
  const select = $('[data-testid="elder"]');
  select.textContent = '';
  for (const e of state.elders) select.append(h('option', { value: e.id }, e.name));
  select.value = state.elder || '';
  // One elder: her name stands, nothing to choose.
  select.disabled = state.elders.length < 2;
  $('.elder-bar').classList.toggle('single', state.elders.length < 2);
  const none = !state.elders.length;
  $('main#main').classList.toggle('no-elder', none);
  if (none) showError(new Error(t('Your account is not linked to anyone yet. Ask the care team to link it.')));
  renderCounts();
}

/** The badges on the tabs: her open alerts and unread messages. */
function renderCounts() {
  const e = elder();
  const badge = (testid, n, text) => {
    const el = $(`[data-testid="${testid}"]`);
    el.hidden = !n;
    el.textContent = n ? String(n) : '';
    el.setAttribute('aria-label', n ? t(text, { n }) : '');
  };
  badge('alerts-count', e ? alerts.activeCount() : 0, '{n} active alerts');
  badge('unread-count', e ? e.unread_messages : 0, '{n} unread messages');
}

function chooseElder(id) {
  if (id === state.elder) return;
  state.elder = id;
  localStorage.setItem(ELDER_KEY, id);
  $('[data-testid="elder"]').value = id;
  alerts.reset();
  alerts.reload();
  show(state.view || 'today');
}

// -------------------------------------------------------------- views

function route() {
  const wanted = location.hash.slice(1);
  show(VIEWS[wanted] ? wanted : 'today');
}

function show(view, focus = false) {
  const previous = state.view;
  if (previous && previous !== view && VIEWS[previous].leave) VIEWS[previous].leave();
  state.view = view;
  for (const el of document.querySelectorAll('[data-view]')) el.hidden = el.dataset.view !== view;
  for (const tab of document.querySelectorAll('[data-tab]')) {
    if (tab.dataset.tab === view) tab.setAttribute('aria-current', 'page');
    else tab.removeAttribute('aria-current');
  }
  if (!state.elder) return;
  VIEWS[view].load();
  if (focus) $(`[data-view="${view}"] h2`).focus();
}

// ---------------------------------------------------------- large text

function setLarge(on) {
  document.documentElement.classList.toggle('large', on);
  const button = $('[data-testid="large-text"]');
  button.setAttribute('aria-pressed', String(on));
  localStorage.setItem(LARGE_KEY, on ? '1' : '0');
}

// --------------------------------------------------------------- boot

function boot() {
  I.picker($('[data-testid="language"]'));
  I.apply();
  $('[data-testid="tabs"]').setAttribute('aria-label', t('Sections'));
  I.onChange(() => {
    $('[data-testid="tabs"]').setAttribute('aria-label', t('Sections'));
    renderCounts();
    if (state.token && state.elder && state.view) VIEWS[state.view].load();
    alerts.renderBanners();
  });
  setLarge(localStorage.getItem(LARGE_KEY) === '1');
  $('[data-testid="large-text"]').addEventListener('click', () =>
    setLarge(!document.documentElement.classList.contains('large')),
  );
  $('[data-testid="login-form"]').addEventListener('submit', login);
  $('[data-testid="logout"]').addEventListener('click', () => ending.logout());
  $('[data-testid="error-dismiss"]').addEventListener('click', clearError);
  $('[data-testid="error-retry"]').addEventListener('click', retry);
  $('[data-testid="elder"]').addEventListener('change', (e) => chooseElder(e.target.value));
  $('[data-testid="refresh"]').addEventListener('click', () => today.load());
  for (const tab of document.querySelectorAll('[data-tab]')) {
    tab.addEventListener('click', (e) => {
      e.preventDefault();
      history.replaceState(null, '', `#${tab.dataset.tab}`);
      if (state.token) show(tab.dataset.tab, true);
    });
  }
  window.addEventListener('hashchange', () => state.token && route());
  alerts.onChange(renderCounts);
  alerts.onOpen((id) => chooseElder(id));
  messages.onRead(() => {
    const e = elder();
    if (e) e.unread_messages = 0;
    renderCounts();
  });

  state.token = localStorage.getItem(TOKEN_KEY);
  if (!state.token) return showLogin();
  resume();
}

/** The session kept on this phone, picked up again. */
async function resume() {
  try {
    state.user = await api('GET', '/me');
    start();
  } catch (err) {
    if (err.status !== 401) {
      showLogin();
      showError(err, 'Could not check the session', resume);
    }
  }
}

document.addEventListener('DOMContentLoaded', boot);
