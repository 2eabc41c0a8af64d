// The family app's service worker: shows the Web Push notifications the
// backend sends the family (her critical alerts, messages from the care
// team) in the phone's language, and on a tap opens the app where the
// news is. Its scope is /family/: the console's worker is another.
'use strict';

importScripts('/console/vocabulary.js', '/console/i18n.js', '/console/common.js', '/family/zh.js');
const { t } = self.eldercareI18n;
const { KIND_LABELS } = self.eldercareCommon;
const CHANGES = {
  'alert.opened': 'New alert',
  'alert.escalated': 'Not answered yet',
  'alert.resolved': 'Closed',
};

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

/** The notification for a payload of the contract's two shapes. */
function describe(data) {
  const icon = '/family/icon.svg';
  if (data && data.type === 'alert' && data.alert) {
    const a = data.alert;
    const kind = t(KIND_LABELS[a.kind] || String(a.kind || 'Alert').replace(/_/g, ' '));
    const open = data.change !== 'alert.resolved';
    return {
      title: `${t(CHANGES[data.change] || 'Alert')}: ${kind}`,
      options: {
        body: a.resident_name || '',
        icon,
        // One notification per alert: its escalation or closing replaces it.
        tag: `alert-${a.id}`,
        renotify: open,
        requireInteraction: open && a.severity === 'critical',
        data: { url: '/family/#alerts' },
      },
    };
  }
  if (data && data.type === 'message') {
    return {
      title: t('Message from {name}', { name: data.from || t('the care team') }),
      options: { body: data.text || '', icon, tag: `message-${data.resident_id}`, data: { url: '/family/#messages' } },
    };
  }
  return { title: 'eldercare', options: { body: t('Something needs your attention.'), icon, data: { url: '/family/' } } };
}

self.addEventListener('push', (event) => {
  let data = null;
  try {
    data = event.data ? event.data.json() : null;
  } catch {
    data = null;
  }
  const { title, options } = describe(data);
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || '/family/';
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      const open = windows.find((w) => new URL(w.url).pathname.startsWith('/family/'));
      if (!open) return self.clients.openWindow(url);
      await open.focus();
      return open.navigate(url).catch(() => open);
    })(),
  );
});
