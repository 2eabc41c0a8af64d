// Notifications on this phone: Web Push through the family app's own
// service worker, and what the family wants to be told of.

import { KIND_LABELS, announce, api, content, formError, h, kindLabel, loading, t } from './base.js';

const SCOPE = '/family/';
const SEVERITIES = [
  ['critical', 'Only the most urgent'],
  ['high', 'Urgent and serious'],
  ['medium', 'Most alerts'],
  ['low', 'Every alert'],
];
/** Alerts about the platform itself, never about an elder: not the family's. */
const PLATFORM = ['ingest_stalled', 'ingest_failing', 'scheduler_stalled', 'institution_silent', 'identity_revoked'];

const supported = () => 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;

/** The app's service worker: notifications, and the app installable. */
export function registerWorker() {
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.register('/family/sw.js', { scope: SCOPE }).catch(() => {
    // Not on this origin (plain http elsewhere than localhost): the page
    // works, without notifications; turning them on says why.
  });
}

async function subscription() {
  const registration = await navigator.serviceWorker.getRegistration(SCOPE);
  return registration ? registration.pushManager.getSubscription() : null;
}

function keyBytes(base64url) {
  const text = atob(base64url.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

export async function load() {
  await loading('Could not load your notification settings', async () => {
    const prefs = await api('GET', '/me/notification-preferences');
    const el = content('settings');
    el.append(await pushBox(), preferences(prefs));
  });
}

async function pushBox() {
  const box = h('div', { class: 'card stack', 'data-testid': 'push' });
  const text = h('p', { 'data-testid': 'push-state' });
  const button = h('button', { type: 'button', class: 'primary', 'data-testid': 'push-toggle' });
  box.append(text, button);
  let on = false;
  const show = async () => {
    on = false;
    if (supported()) {
      try {
        on = Boolean(await subscription()) && Notification.permission === 'granted';
      } catch {
        on = false;
      }
    }
    text.textContent = !supported()
      ? t('This browser cannot show notifications. Add the app to the home screen, or use another browser.')
      : on
        ? t('This phone is told of alerts and messages.')
        : t('This phone is not told of anything yet.');
    button.hidden = !supported();
    button.textContent = on ? t('Stop notifying this phone') : t('Notify this phone');
    button.setAttribute('aria-pressed', String(on));
  };
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      if (on) await unsubscribe();
      else await subscribe();
      formError(box, null);
    } catch (err) {
      formError(box, err, on ? 'Could not stop the notifications' : 'Could not turn on notifications');
    } finally {
      button.disabled = false;
      await show();
    }
  });
  await show();
  return box;
}

async function subscribe() {
  const registration = await navigator.serviceWorker.register('/family/sw.js', { scope: SCOPE });
  if ((await Notification.requestPermission()) !== 'granted') {
    throw new Error(t('Notifications are blocked for this site: allow them in the browser settings.'));
  }
  const { key } = await api('GET', '/push/vapid-public-key');
  const existing = await registration.pushManager.getSubscription();
  const sub = existing || (await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) }));
  await api('POST', '/me/push-subscriptions', sub.toJSON());
  announce(t('This phone will be notified.'));
}

async function unsubscribe() {
  const sub = await subscription();
  if (!sub) return;
  const mine = await api('GET', '/me/push-subscriptions');
  for (const s of mine.subscriptions || []) {
    if (s.endpoint === sub.endpoint) await api('DELETE', `/me/push-subscriptions/${s.id}`);
  }
  await sub.unsubscribe();
  announce(t('This phone will not be notified any more.'));
}

function preferences(prefs) {
  const kinds = Object.keys(KIND_LABELS).filter((k) => !PLATFORM.includes(k));
  const chosen = new Set(prefs.kinds || kinds);
  const severity = h(
    'select',
    { id: 'pref-severity', 'data-testid': 'pref-severity' },
    SEVERITIES.map(([value, text]) => h('option', { value }, t(text))),
  );
  severity.value = prefs.min_severity;
  const boxes = kinds.map((kind) =>
    h('label', { class: 'check' }, h('input', { type: 'checkbox', value: kind, checked: chosen.has(kind), 'data-testid': `pref-kind-${kind}` }), h('span', {}, kindLabel(kind))),
  );
  const quiet = h('input', { type: 'checkbox', checked: Boolean(prefs.quiet_hours), 'data-testid': 'pref-quiet' });
  const from = h('input', { id: 'quiet-from', type: 'time', value: prefs.quiet_hours ? prefs.quiet_hours.start : '22:00' });
  const until = h('input', { id: 'quiet-until', type: 'time', value: prefs.quiet_hours ? prefs.quiet_hours.end : '07:00' });
  const times = h('div', { class: 'times', hidden: !prefs.quiet_hours }, h('label', { for: 'quiet-from' }, t('From')), from, h('label', { for: 'quiet-until' }, t('Until')), until);
  quiet.addEventListener('change', () => {
    times.hidden = !quiet.checked;
  });
  const save = h('button', { type: 'submit', class: 'primary', 'data-testid': 'pref-save' }, t('Save'));
  const form = h(
    'form',
    { class: 'card stack', 'data-testid': 'preferences' },
    h('h3', {}, t('What to be told of')),
    h('label', { for: 'pref-severity' }, t('Alerts')),
    severity,
    h('p', { class: 'muted' }, t('The most urgent: a fall, the SOS button, smoke, gas.')),
    h('fieldset', { class: 'kinds' }, h('legend', {}, t('Kinds of alert')), boxes),
    h('label', { class: 'check' }, quiet, h('span', {}, t('Quiet at night (never for the most urgent)'))),
    times,
    h('p', { class: 'muted' }, t('Messages from the care team are told too; in quiet hours they wait for the morning.')),
    save,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const picked = boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
    if (!picked.length) return formError(form, new Error(t('Choose at least one kind of alert.')), 'Not saved');
    save.disabled = true;
    try {
      await api('PUT', '/me/notification-preferences', {
        min_severity: severity.value,
        kinds: picked.length === kinds.length ? null : picked,
        quiet_hours: quiet.checked ? { start: from.value, end: until.value } : null,
        channels: prefs.channels,
      });
      formError(form, null);
      announce(t('Saved.'));
    } catch (err) {
      formError(form, err, 'Not saved');
    } finally {
      save.disabled = false;
    }
  });
  return form;
}
