// The alert console: plain JavaScript, no framework, nothing fetched from
// elsewhere. One page: log in, follow the live alert stream, act on alerts,
// look at a resident.
// Its parts are ES modules in app/, served as they are.

import { $, I18N, TOKEN_KEY, state, t } from './app/base.js';
import { api, clearError, login, logout, showError, showLogin, startApp } from './app/session.js';
import { flash, render, tickClocks } from './app/alerts.js';
import { enablePush } from './app/push.js';
import { primeAudio, refreshSoundButton, remind, toggleSound } from './app/sound.js';
import { closePanel } from './app/panel.js';
import { redrawRegistry } from './app/registry.js';
import { redrawDivisions } from './app/divisions.js';

async function boot() {
  wireStatic();
  refreshSoundButton();
  await window.eldercareCommon.takeDisplayToken(TOKEN_KEY, t);
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) {
    showLogin();
    return;
  }
  state.token = token;
  try {
    state.user = await api('GET', '/me');
    startApp();
  } catch (err) {
    if (err.status !== 401) {
      // The server may be restarting: keep the session and retry shortly.
      showLogin();
      showError(err, 'Could not check the session');
    }
  }
}

function wireStatic() {
  I18N.picker($('[data-testid="language"]'));
  I18N.apply();
  // Rows are built once and then updated: in another language they are
  // built again.
  I18N.onChange(() => {
    for (const row of state.rows.values()) row.el.remove();
    state.rows.clear();
    render();
    refreshSoundButton();
    redrawRegistry();
    redrawDivisions();
  });
  $('[data-testid="login-form"]').addEventListener('submit', login);
  $('[data-testid="logout"]').addEventListener('click', logout);
  $('[data-testid="sound-toggle"]').addEventListener('click', toggleSound);
  $('[data-testid="push-toggle"]').addEventListener('click', enablePush);
  $('[data-testid="error-dismiss"]').addEventListener('click', clearError);
  $('[data-testid="panel-close"]').addEventListener('click', closePanel);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !$('#panel').hidden) {
      e.preventDefault();
      closePanel();
    }
  });
  // Browsers allow audio only after a gesture: any click or key unlocks it.
  for (const type of ['pointerdown', 'keydown']) document.addEventListener(type, primeAudio, { capture: true, passive: true });
  setInterval(() => {
    tickClocks();
    remind();
  }, 1000);
  document.addEventListener('animationend', (e) => {
    if (e.animationName === 'flash') e.target.classList.remove('flash');
  });
}

document.addEventListener('DOMContentLoaded', boot);
