// What every page (and the service worker) shares: the names of alert
// kinds, the API's error, a fetch that carries the session's token and
// turns every failure into that error, and logging in.
// The pages keep their own session (each its own token key); a 401 on a
// call made with a token means the server no longer accepts it, and the
// page is told so it can ask for a login again.
'use strict';

(() => {
  const API = '/api/v1';

  /** Alert kinds as people read them (English; the pages translate). */
  const KIND_LABELS = {
    fall: 'Fall',
    sos: 'SOS button pressed',
    smoke: 'Smoke',
    gas: 'Gas',
    water_leak: 'Water leak',
    vital_abnormal: 'Abnormal vital sign',
    missed_meal: 'Missed meal',
    inactivity: 'No activity',
    no_morning_activity: 'No activity this morning',
    night_wandering: 'Night wandering',
    bed_exit_no_return: 'Out of bed, not back',
    device_offline: 'Device offline',
    low_battery: 'Low battery',
    ingest_stalled: 'Monitoring stalled: device data not stored',
    ingest_failing: 'Monitoring failing to store device data',
    scheduler_stalled: 'Timed checks stopped',
    institution_silent: 'No data from any device',
    identity_revoked: 'Device credential revoked: name reserved for the backend',
    visit_late: 'Care visit late',
    visit_missed: 'Care visit missed',
  };

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  /**
   * An API caller for one page: `token()` answers the current token (or
   * none), `onSessionEnded()` is called when the server refuses it.
   * `networkMessage` is what a failure to reach the server says.
   */
  function client({ token, onSessionEnded, networkMessage = 'The server cannot be reached.' }) {
    return async function api(method, path, body) {
      const headers = { Accept: 'application/json' };
      const current = token();
      if (current) headers.Authorization = `Bearer ${current}`;
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      let res;
      try {
        res = await fetch(API + path, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          cache: 'no-store',
        });
      } catch {
        throw new ApiError(0, 'network_error', networkMessage);
      }
      const text = await res.text();
      let data = null;
      try {
        data = text ? JSON.parse(text) : null;
      } catch {
        data = null;
      }
      if (!res.ok) {
        const err = (data && data.error) || {};
        if (res.status === 401 && current && path !== '/auth/login') onSessionEnded();
        throw new ApiError(res.status, err.code || `http_${res.status}`, err.message || res.statusText || 'request failed');
      }
      return data;
    };
  }

  /**
   * Logs in with what the form holds; answers `{token, user}`, or throws
   * with a message fit for the form (`t` translates the fixed ones).
   */
  async function logIn(api, email, password, t) {
    if (!email || !password) throw new Error(t('Enter your email and password.'));
    try {
      return await api('POST', '/auth/login', { email, password });
    } catch (err) {
      throw new Error(err.status === 401 ? t('Wrong email or password.') : `${err.message} (${err.code})`);
    }
  }

  /**
   * A wall screen is opened once with its display token in the address's
   * fragment (never sent to the server, so never in a log); the token leaves
   * the address bar at once and is kept for the tab's life. In a tab with no
   * session it simply becomes the session. Over a session it is an offer the
   * person at the screen must accept: otherwise a link alone would swap a
   * signed-in nurse's session for an account of the sender's choosing.
   * Resolves once the tab's session under `tokenKey` is settled.
   */
  async function takeDisplayToken(tokenKey, t) {
    const offered = new URLSearchParams(location.hash.slice(1)).get('display');
    if (!offered) return;
    history.replaceState(null, '', location.pathname + location.search);
    const current = sessionStorage.getItem(tokenKey);
    if (current && current !== offered && !(await askToReplace(t))) return;
    sessionStorage.setItem(tokenKey, offered);
  }

  /** Asks, on a card of its own over the page, whether to end the session. */
  function askToReplace(t) {
    const hidden = [...document.querySelectorAll('[data-when]')].filter((el) => !el.hidden);
    for (const el of hidden) el.hidden = true;
    const card = document.createElement('main');
    card.className = 'login';
    card.dataset.testid = 'display-offer';
    const box = document.createElement('div');
    box.className = 'card';
    const title = document.createElement('h2');
    title.textContent = t('Open as a wall screen?');
    const text = document.createElement('p');
    text.textContent = t('This link opens a wall-screen display session. It would replace the session you are signed in with in this tab.');
    const keep = document.createElement('button');
    keep.type = 'button';
    keep.className = 'primary';
    keep.dataset.testid = 'display-keep';
    keep.textContent = t('Keep my session');
    const accept = document.createElement('button');
    accept.type = 'button';
    accept.className = 'ghost';
    accept.dataset.testid = 'display-accept';
    accept.textContent = t('Open the wall screen');
    box.append(title, text, keep, accept);
    card.append(box);
    document.body.append(card);
    return new Promise((resolve) => {
      const answer = (replace) => {
        card.remove();
        for (const el of hidden) el.hidden = false;
        resolve(replace);
      };
      keep.addEventListener('click', () => answer(false));
      accept.addEventListener('click', () => answer(true));
      keep.focus();
    });
  }

  // `self`: the window in a page, the global scope in the service worker.
  self.eldercareCommon = { KIND_LABELS, ApiError, client, logIn, takeDisplayToken };
})();
