// The console's service worker: shows the Web Push notifications the
// backend sends (alerts and messages), so a phone that installed the page
// rings with its screen off. The payload is decrypted by the browser; this
// only turns it into a notification and, on a tap, opens the console.
'use strict';

importScripts('/console/vocabulary.js', '/console/common.js');
const { KIND_LABELS } = self.eldercareCommon;
const CHANGES = {
  'alert.opened': 'New alert',
  'alert.escalated': 'Not answered yet',
  'alert.resolved': 'Resolved',
};

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

/** The notification for a payload of the contract's two shapes. */
function describe(data) {
  if (data && data.type === 'alert' && data.alert) {
    const a = data.alert;
    const kind = KIND_LABELS[a.kind] || String(a.kind || 'Alert').replace(/_/g, ' ');
    const where = [a.resident_name, a.room ? `room ${a.room}` : null].filter(Boolean).join(', ');
    const open = data.change !== 'alert.resolved';
    return {
      title: `${CHANGES[data.change] || 'Alert'}: ${kind}`,
      options: {
        body: `${where || 'Shared device'} · ${a.severity}`,
        // One notification per alert: its escalation or resolution replaces it.
        tag: `alert-${a.id}`,
        renotify: open,
        requireInteraction: open && a.severity === 'critical',
        data: { url: '/console/' },
      },
    };
  }
  if (data && data.type === 'message') {
    return {
      title: `Message from ${data.from || 'someone'}`,
      options: { body: data.text || '', tag: `message-${data.resident_id}`, data: { url: '/console/' } },
    };
  }
  return { title: 'eldercare', options: { body: 'Something needs your attention.', data: { url: '/console/' } } };
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
  const url = (event.notification.data && event.notification.data.url) || '/console/';
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      const open = windows.find((w) => new URL(w.url).pathname.startsWith('/console/'));
      if (open) return open.focus();
      return self.clients.openWindow(url);
    })(),
  );
});
