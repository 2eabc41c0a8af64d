// Web Push: alert notifications on this device while the page is closed.

import { $, state } from './base.js';
import { announce, api, showError } from './session.js';

/** Web Push: this browser can be told of alarms while the page is closed. */
export function pushSupported() {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

export async function refreshPushButton() {
  const button = $('[data-testid="push-toggle"]');
  // A wall screen's display token is read-only: it subscribes nobody.
  button.hidden = !pushSupported() || state.user.session_kind === 'display';
  if (button.hidden) return;
  let on = false;
  try {
    const registration = await navigator.serviceWorker.getRegistration('/console/');
    const subscription = registration && (await registration.pushManager.getSubscription());
    on = Boolean(subscription) && Notification.permission === 'granted';
  } catch {
    // No service workers here (private mode, insecure origin): offered, and
    // turning it on will say why it cannot.
  }
  button.dataset.state = on ? 'on' : 'off';
  button.setAttribute('aria-pressed', String(on));
  button.textContent = on ? 'Notifications on' : 'Notify this device';
}

export function keyBytes(base64url) {
  const text = atob(base64url.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

export async function enablePush() {
  const button = $('[data-testid="push-toggle"]');
  button.disabled = true;
  try {
    const registration = await navigator.serviceWorker.register('/console/sw.js', { scope: '/console/' });
    if ((await Notification.requestPermission()) !== 'granted') {
      throw new Error('notifications are blocked for this site in the browser settings');
    }
    const { key } = await api('GET', '/push/vapid-public-key');
    let subscription = await registration.pushManager.getSubscription();
    if (!subscription) {
      subscription = await registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: keyBytes(key),
      });
    }
    await api('POST', '/me/push-subscriptions', subscription.toJSON());
    announce('This device will be notified of alerts.');
  } catch (err) {
    showError(err, 'Could not turn on notifications');
  } finally {
    button.disabled = false;
    refreshPushButton();
  }
}
