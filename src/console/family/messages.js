// The thread with the care team: read (and marked read), and written to.
// Messages come by push, not on the alert stream: the open thread asks
// again every little while.

import { $, announce, api, content, formError, h, loading, state, t, when } from './base.js';

const POLL_MS = 20_000;
let timer = null;
let generation = 0;
const read = [];

/** `f()`: the thread was marked read. */
export const onRead = (f) => read.push(f);

export async function load() {
  const id = state.elder;
  const mine = ++generation;
  clearInterval(timer);
  timer = setInterval(() => refresh(id, mine), POLL_MS);
  const el = content('messages');
  el.append(h('ol', { class: 'thread', 'data-testid': 'thread', 'aria-live': 'polite' }), form(id));
  await refresh(id, mine);
}

export function leave() {
  clearInterval(timer);
  timer = null;
  generation += 1;
}

async function refresh(id, mine) {
  await loading('Could not load the messages', async () => {
    const page = await api('GET', `/residents/${id}/messages?limit=50`);
    if (mine !== generation) return;
    render(page);
    const newest = page.messages[0];
    const lastRead = page.last_read_at ? Date.parse(page.last_read_at) : 0;
    if (newest && !newest.mine && Date.parse(newest.created_at) > lastRead) {
      await api('POST', `/residents/${id}/messages/read`);
      for (const f of read) f();
    }
  });
}

function render(page) {
  const list = $('[data-testid="thread"]');
  if (!list) return;
  list.textContent = '';
  // Newest first from the server; read top to bottom, oldest first.
  const messages = [...page.messages].reverse();
  if (!messages.length) list.append(h('li', { class: 'muted' }, t('No messages yet. Write to the care team below.')));
  for (const m of messages) {
    const who = m.mine ? t('You') : [m.author_name || t('Someone'), m.author_relationship ? `(${m.author_relationship})` : m.author_role && m.author_role !== 'family' ? `· ${t('care team')}` : ''].filter(Boolean).join(' ');
    list.append(
      h(
        'li',
        { class: m.mine ? 'message mine' : 'message', 'data-testid': 'message', 'data-message-id': m.id },
        h('p', { class: 'message-meta muted' }, `${who} · ${when(m.created_at)}`),
        h('p', { class: 'message-text' }, m.text),
      ),
    );
  }
}

function form(id) {
  const text = h('textarea', { id: 'message-text', rows: 3, maxlength: 4000, required: true, 'data-testid': 'message-text' });
  const send = h('button', { type: 'submit', class: 'primary', 'data-testid': 'message-send' }, t('Send'));
  const el = h(
    'form',
    { class: 'card stack', 'data-testid': 'message-form' },
    h('label', { for: 'message-text' }, t('Your message')),
    text,
    send,
  );
  el.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = text.value.trim();
    if (!body) return formError(el, new Error(t('Write something first.')), 'Not sent');
    send.disabled = true;
    try {
      await api('POST', `/residents/${id}/messages`, { text: body });
      text.value = '';
      formError(el, null);
      announce(t('Message sent.'));
      await refresh(id, generation);
    } catch (err) {
      formError(el, err, 'Not sent');
    } finally {
      send.disabled = false;
    }
  });
  return el;
}
