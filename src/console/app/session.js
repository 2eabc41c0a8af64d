// Talking to the server: the API client, errors shown to the user, logging
// in and out, and the live alert stream.

import { $, $$, TOKEN_KEY, isStaff, state, t } from './base.js';
import { applyChange, loadAlerts, render } from './alerts.js';
import { refreshPushButton } from './push.js';
import { primeAudio } from './sound.js';
import { closePanel } from './panel.js';
import { currentSection, followsAlerts, setupViews } from './views.js';
import { resetRegistry } from './registry.js';
import { resetDivisions } from './divisions.js';
import { openTraceFromHash } from './trace.js';

export const { ApiError } = window.eldercareCommon;
export const api = window.eldercareCommon.client({
  token: () => state.token,
  onSessionEnded: () => sessionEnded(),
  networkMessage: 'The server cannot be reached. Check the network connection.',
});

export function showError(err, what) {
  const box = $('#error');
  const detail = err instanceof ApiError ? `${err.message} (${err.code})` : String(err && err.message ? err.message : err);
  $('.error-text', box).textContent = what ? `${t(what)}: ${detail}` : detail;
  box.hidden = false;
}

export function clearError() {
  $('#error').hidden = true;
}

export function announce(text) {
  const region = $('#announce');
  region.textContent = '';
  // A fresh text node after a tick, so screen readers announce repeats too.
  setTimeout(() => {
    region.textContent = text;
  }, 50);
}

// ---------------------------------------------------------------- session

export function showView(view) {
  for (const el of $$('[data-when]')) el.hidden = el.dataset.when !== view;
}


export function showLogin(message) {
  showView('login');
  const error = $('[data-testid="login-error"]');
  error.textContent = message ? t(message) : '';
  error.hidden = !message;
  $('#login-email').focus();
}

export async function login(event) {
  primeAudio();
  await window.eldercareCommon.submitLogin(event, api, t, (res) => {
    state.token = res.token;
    state.user = res.user;
    sessionStorage.setItem(TOKEN_KEY, res.token);
    startApp();
  });
}

export function startApp() {
  clearError();
  showView('app');
  const role = state.user.role;
  $('[data-testid="current-user"]').textContent = state.user.name || state.user.email;
  $('[data-testid="current-user"]').title = `${state.user.email} · ${role}`;
  // On a platform of many institutions, whose alerts these are.
  $('[data-testid="institution-name"]').textContent = state.user.institution_name || '';
  if (state.user.id) state.names.set(state.user.id, state.user.name || state.user.email);
  document.body.classList.toggle('read-only', !isStaff());
  setupViews();
  loadDirectory();
  // The civil-affairs bureau follows no alerts: no stream, no list.
  if (followsAlerts(state.user)) {
    startStream();
    refreshPushButton();
  }
  if (state.view === 'registry') $('#registry-q').focus();
  else currentSection().focus();
  openTraceFromHash();
}

export const ending = window.eldercareCommon.session({
  api,
  token: () => state.token,
  stop: stopStream, reset: resetSession,
  showLogin,
});

export function logout() {
  return ending.logout();
}

/** The server no longer accepts the token (expired or revoked). */
export function sessionEnded() {
  ending.ended();
}


export function resetSession() {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  state.user = null;
  state.alerts.clear();
  state.pending = null;
  state.loadToken = null;
  state.residents.clear();
  state.names.clear();
  state.staff = [];
  state.view = null;
  closePanel();
  resetRegistry();
  resetDivisions();
  render();
  clearError();
}

/** Residents (for rooms) and, for admins, the people alerts can go to. */
export async function loadDirectory() {
  try {
    const res = await api('GET', '/residents');
    for (const r of res.residents || []) state.residents.set(r.id, r);
    render();
  } catch (err) {
    if (err.status !== 401) showError(err, 'Could not load the residents');
  }
  if (isStaff() && state.user.role === 'admin') {
    try {
      const res = await api('GET', '/users');
      state.staff = (res.users || []).filter((u) => u.role === 'admin' || u.role === 'staff');
      for (const u of res.users || []) state.names.set(u.id, u.name || u.email);
      render();
    } catch (err) {
      if (err.status !== 401) showError(err, 'Could not load the staff list');
    }
  }
}

/** A resident the list has not seen yet (created after the page loaded). */
export async function learnResidents() {
  const now = Date.now();
  if (now - state.residentsAsked < 10_000) return;
  state.residentsAsked = now;
  try {
    const res = await api('GET', '/residents');
    for (const r of res.residents || []) state.residents.set(r.id, r);
    render();
  } catch {
    // Rooms are a nicety; the alert itself is already shown.
  }
}

// ----------------------------------------------------------------- stream

/** `detail` changes often (a countdown): shown, but not read out. */
export function setConnection(stateName, text, detail = '') {
  const el = $('[data-testid="connection"]');
  el.dataset.state = stateName;
  const label = $('.connection-text', el);
  if (label.textContent !== t(text)) label.textContent = t(text);
  $('.connection-detail', el).textContent = detail;
}

export const stream = window.eldercareCommon.liveStream({
  token: () => state.token,
  onConnecting: (again) => setConnection('connecting', again ? 'Reconnecting…' : 'Connecting…'),
  onEvent: (type, data) => onStreamEvent(type, data),
  onWaiting: (left) => setConnection('disconnected', 'Disconnected', ` · retry in ${left} s`),
  onSessionEnded: () => sessionEnded(),
});

export function startStream() {
  stopStream();
  stream.start();
}

export function stopStream() {
  stream.stop();
  setConnection('disconnected', 'Not connected');
}

export function onStreamEvent(type, data) {
  if (type === 'ready') {
    setConnection('connected', 'Live');
    // Whatever changed while we were not listening: load it fresh.
    loadAlerts();
  } else if (type === 'resync') {
    loadAlerts();
  } else if (type === 'alert') {
    // The data is the alert itself; `change` says what happened to it.
    let alert;
    try {
      alert = JSON.parse(data);
    } catch {
      return;
    }
    if (alert && alert.id) applyChange(alert.change, alert);
  }
}
