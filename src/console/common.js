// What every page (and the service worker) shares: the names of alert
// kinds, the API's error, a fetch that carries the session's token and
// turns every failure into that error, logging in and out, and the live
// alert stream.
// The pages keep their own session (each its own token key); a 401 on a
// call made with a token means the server no longer accepts it, and the
// page is told so it can ask for a login again.
'use strict';

(() => {
  const API = '/api/v1';

  /** Alert kinds as people read them (English; the pages translate),
   * from the server's own list (`vocabulary.js`, loaded first). */
  const { KIND_LABELS } = self.eldercareVocabulary;

  class ApiError extends Error {
    constructor(status, code, message, details = {}) {
      super(message);
      this.status = status;
      this.code = code;
      // The error body's other fields (`field`, `resident_id`, ...).
      this.details = details;
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
        throw new ApiError(res.status, err.code || `http_${res.status}`, err.message || res.statusText || 'request failed', err);
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
   * Ending a page's session: `logout()` when the person asks, `ended()`
   * when the server no longer accepts the token. `stop` ends what runs on
   * the session (the live stream), `reset` forgets it, `showLogin` asks
   * for a login again.
   */
  function session({ api, token, stop = () => {}, reset, showLogin }) {
    return {
      async logout() {
        const current = token();
        stop();
        if (current) {
          try {
            await api('POST', '/auth/logout');
          } catch {
            // The session is dropped here either way.
          }
        }
        reset();
        showLogin();
      },
      ended() {
        stop();
        reset();
        showLogin('Your session has ended. Please log in again.');
      },
    };
  }

  // The server sends a keep-alive comment every 15 s: this much silence means
  // the connection is dead even if the socket has not noticed.
  const STREAM_SILENCE_MS = 45_000;
  const BACKOFF_MAX_MS = 30_000;

  /**
   * The live alert stream through fetch (EventSource cannot send the
   * token), reconnecting with backoff until stopped. Tells the page
   * `onConnecting(again)` before each attempt, `onEvent(type, data)` for
   * each event, `onWaiting(secondsLeft)` while it waits to retry (cut short
   * when the network comes back), and `onSessionEnded()` on a 401.
   */
  function liveStream({ token, onConnecting, onEvent, onWaiting, onSessionEnded }) {
    let generation = 0;
    let abort = null;
    let wake = null;

    async function run(mine) {
      const current = () => mine === generation;
      let attempt = 0;
      while (current()) {
        onConnecting(attempt > 0);
        const controller = new AbortController();
        abort = controller;
        let silence;
        const heard = () => {
          clearTimeout(silence);
          silence = setTimeout(() => controller.abort(), STREAM_SILENCE_MS);
        };
        try {
          heard();
          const res = await fetch(`${API}/alerts/stream`, {
            headers: { Authorization: `Bearer ${token()}`, Accept: 'text/event-stream' },
            signal: controller.signal,
            cache: 'no-store',
          });
          if (res.status === 401) {
            if (current()) onSessionEnded();
            return;
          }
          if (!res.ok || !res.body) throw new Error(`stream answered ${res.status}`);
          const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
          const parser = sseParser((type, data) => {
            if (!current()) return;
            if (type === 'ready') attempt = 0;
            onEvent(type, data);
          });
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            heard();
            parser.push(value);
          }
        } catch {
          // Dropped, refused or aborted: the loop decides what next.
        } finally {
          clearTimeout(silence);
        }
        if (!current()) return;
        const delay = Math.round(Math.min(BACKOFF_MAX_MS, 1000 * 2 ** attempt) * (0.75 + Math.random() * 0.5));
        attempt = Math.min(attempt + 1, 6);
        await countdown(current, delay);
      }
    }

    /** Waits before the next attempt, telling the time left; cut short
     * when the network comes back or the stream is stopped. */
    function countdown(current, delay) {
      return new Promise((resolve) => {
        const until = Date.now() + delay;
        let tick;
        const done = () => {
          clearInterval(tick);
          self.removeEventListener('online', done);
          wake = null;
          resolve();
        };
        const show = () => {
          if (!current()) return done();
          const left = Math.ceil((until - Date.now()) / 1000);
          if (left <= 0) return done();
          onWaiting(left);
        };
        wake = done;
        self.addEventListener('online', done);
        tick = setInterval(show, 250);
        show();
      });
    }

    function stop() {
      generation += 1;
      if (abort) abort.abort();
      if (wake) wake();
    }

    return {
      start() {
        stop();
        run(generation);
      },
      stop,
    };
  }

  /** A Server-Sent Events parser (the WHATWG rules that matter here). */
  function sseParser(dispatch) {
    let buffer = '';
    let type = '';
    let data = [];
    return {
      push(chunk) {
        buffer += chunk;
        for (;;) {
          const i = buffer.search(/[\r\n]/);
          if (i < 0) return;
          // A lone CR at the end may be the first half of a CRLF.
          if (buffer[i] === '\r' && i === buffer.length - 1) return;
          const line = buffer.slice(0, i);
          buffer = buffer.slice(buffer[i] === '\r' && buffer[i + 1] === '\n' ? i + 2 : i + 1);
          if (line === '') {
            if (data.length) dispatch(type || 'message', data.join('\n'));
            type = '';
            data = [];
          } else if (line[0] !== ':') {
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            let value = colon < 0 ? '' : line.slice(colon + 1);
            if (value[0] === ' ') value = value.slice(1);
            if (field === 'event') type = value;
            else if (field === 'data') data.push(value);
          }
        }
      },
    };
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
  /**
   * A page's login form submitted: logs in with what it holds, shows a
   * failure under it, and hands the answer (`{token, user}`) to `signedIn`.
   */
  async function submitLogin(event, api, t, signedIn) {
    event.preventDefault();
    const form = event.currentTarget;
    const error = form.querySelector('[data-testid="login-error"]');
    const button = form.querySelector('[data-testid="login-submit"]');
    button.disabled = true;
    error.hidden = true;
    try {
      const email = form.querySelector('#login-email').value.trim();
      const res = await logIn(api, email, form.querySelector('#login-password').value, t);
      form.reset();
      signedIn(res);
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  }

  /**
   * An element with its attributes (`on…` ones as listeners; `false`,
   * `null` and `undefined` left out) and children (text as text, never
   * markup).
   */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : v);
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined) el.append(child instanceof Node ? child : String(child));
    }
    return el;
  }

  /**
   * A page with a session of its own, its token in sessionStorage under
   * `tokenKey` (the claims review, the hotline desk): one view shown at a
   * time (`data-when`), an error line (`#error`), the login form and its
   * message, the API client, the session's end (`forget` clears the page's
   * own state), logging in and picking the session up on a reload.
   */
  function sessionPage({ tokenKey, t = (text) => text, forget = () => {} }) {
    const $ = (sel) => document.querySelector(sel);
    const page = { token: sessionStorage.getItem(tokenKey), user: null };
    const showView = (which) => {
      for (const el of document.querySelectorAll('[data-when]')) el.hidden = el.dataset.when !== which;
    };
    const showError = (message) => {
      $('.error-text').textContent = message;
      $('#error').hidden = !message;
    };
    const showLogin = (message) => {
      showView('login');
      const error = $('[data-testid="login-error"]');
      error.textContent = message || '';
      error.hidden = !message;
    };
    const api = client({ token: () => page.token, onSessionEnded: () => ending.ended() });
    const ending = session({
      api,
      token: () => page.token,
      reset() {
        sessionStorage.removeItem(tokenKey);
        page.token = null;
        page.user = null;
        forget();
      },
      showLogin,
    });
    const signIn = (event, start) => submitLogin(event, api, t, (res) => {
      page.token = res.token;
      page.user = res.user;
      sessionStorage.setItem(tokenKey, res.token);
      start();
    });
    async function resume(start) {
      if (!page.token) return showLogin();
      try {
        page.user = await api('GET', '/me');
        start();
      } catch (err) {
        if (err.status !== 401) showLogin(err.message);
      }
    }
    return { page, api, ending, showView, showError, showLogin, signIn, resume };
  }

  self.eldercareCommon = {
    KIND_LABELS, ApiError, client, logIn, submitLogin, session, sessionPage, liveStream, takeDisplayToken, h,
  };
})();
