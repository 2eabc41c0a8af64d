// The console's views: the alert list, the elder registry and, for the
// platform operator, the divisions. Which of them a user has depends on
// their role: the civil-affairs bureau has no alerts to follow, only the
// registry of its division.

import { $, $$, state } from './base.js';
import { openRegistry } from './registry.js';
import { openDivisions } from './divisions.js';
import { setupRegister } from './register.js';

/** The views of the signed-in user, the first one shown at login. */
export function viewsOf(user) {
  if (!user || user.session_kind === 'display') return ['alerts'];
  switch (user.role) {
    case 'admin':
    case 'staff':
      return ['alerts', 'registry'];
    case 'grid_worker':
      return ['registry', 'alerts'];
    case 'civil_affairs':
      return ['registry'];
    case 'operator':
      return ['alerts', 'divisions'];
    default:
      return ['alerts'];
  }
}

/** Whether the user follows the live alert list at all. */
export const followsAlerts = (user) => viewsOf(user).includes('alerts');

/** Shows the tabs the user has (none when there is only one view). */
export function setupViews() {
  const views = viewsOf(state.user);
  const nav = $('[data-testid="views"]');
  nav.hidden = views.length < 2;
  for (const tab of $$('[data-view-tab]', nav)) {
    tab.hidden = !views.includes(tab.dataset.viewTab);
    if (!tab.dataset.wired) {
      tab.dataset.wired = 'yes';
      tab.addEventListener('click', () => showSection(tab.dataset.viewTab));
    }
  }
  document.body.classList.toggle('no-alerts', !views.includes('alerts'));
  setupRegister();
  state.view = null;
  showSection(views[0], false);
}

/** Switches to a view; `focus` moves the keyboard there (not at login). */
export function showSection(name, focus = true) {
  if (!viewsOf(state.user).includes(name)) return;
  const first = state.view !== name;
  state.view = name;
  for (const el of $$('[data-view]')) el.hidden = el.dataset.view !== name;
  for (const tab of $$('[data-view-tab]')) tab.setAttribute('aria-pressed', String(tab.dataset.viewTab === name));
  // Another view starts at its top, not where the last one was scrolled to.
  if (first) window.scrollTo(0, 0);
  if (first && name === 'registry') openRegistry();
  if (first && name === 'divisions') openDivisions();
  if (focus) currentSection().focus({ preventScroll: true });
}

/** The section of the view shown: where focus goes back to. */
export function currentSection() {
  return $(`[data-view="${state.view || 'alerts'}"]`) || $('#alerts');
}
