// The claims review page of the payers: the fund's insurers decide the
// long-term care insurance claims of the providers in its division, the
// civil-affairs bureau the subsidy claims. A claim's lines are accepted or
// rejected with a reason, one by one or every pending one at once; a claim
// with every line decided is closed. Plain JavaScript, its own session (its
// token in sessionStorage).
'use strict';

(() => {
  const TOKEN_KEY = 'eldercare.claims.token';
  const $ = (sel) => document.querySelector(sel);
  const state = { claim: null };

  const { h } = window.eldercareCommon;

  const { page, api, ending, showView, showError, signIn, resume } =
    window.eldercareCommon.sessionPage({ tokenKey: TOKEN_KEY, forget: () => { state.claim = null; } });

  /** Amounts come as yuan with two decimals; shown as they come. */
  function money(value) {
    return Number(value).toFixed(2);
  }

  async function loadQueue() {
    try {
      const { claims } = await api('GET', '/claims?status=submitted');
      const list = $('[data-testid="claims"]');
      list.replaceChildren(
        ...claims.map((c) =>
          h('li', {},
            h('button', {
              type: 'button', 'data-testid': 'claim-row', 'data-claim-id': c.id,
              'aria-current': state.claim && state.claim.id === c.id ? 'true' : false,
              onclick: () => openClaim(c.id),
            }, `${c.institution_name} · ${c.month} · ${c.payer} · ${money(c.total_claimed)}`))),
      );
      $('[data-testid="no-claims"]').hidden = claims.length > 0;
      $('[data-testid="claims-counts"]').textContent = `${claims.length} waiting`;
    } catch (err) {
      showError(`Could not load the claims: ${err.message}`);
    }
  }

  async function openClaim(id) {
    try {
      render(await api('GET', `/claims/${id}`));
      await loadQueue();
    } catch (err) {
      showError(`Could not open the claim: ${err.message}`);
    }
  }

  function render(claim) {
    state.claim = claim;
    $('[data-testid="claim"]').hidden = false;
    $('[data-testid="claim-title"]').textContent = `${claim.institution_name}, ${claim.month} (${claim.payer})`;
    const pending = claim.lines.filter((l) => l.status === 'pending').length;
    const accepted = claim.lines.filter((l) => l.status === 'accepted')
      .reduce((sum, l) => sum + Math.round(Number(l.payer_amount) * 100), 0);
    const totals = claim.status === 'closed'
      ? `Closed: ${money(claim.total_accepted)} accepted of ${money(claim.total_claimed)} claimed.`
      : `${claim.lines.length} lines, ${money(claim.total_claimed)} claimed; ${money(accepted / 100)} accepted so far; ${pending} pending.`;
    $('[data-testid="claim-totals"]').textContent = totals;
    const open = claim.status !== 'closed';
    $('[data-testid="close-claim"]').disabled = !open || pending > 0;
    $('[data-testid="accept-pending"]').disabled = !open || pending === 0;
    $('[data-testid="lines"]').replaceChildren(...claim.lines.map((line) => row(claim, line, open)));
  }

  function row(claim, line, open) {
    const reason = h('input', { type: 'text', 'aria-label': 'Reason to reject', 'data-testid': 'reject-reason',
      placeholder: 'reason code: words', maxlength: '500' });
    const decision = open
      ? h('div', {},
        h('button', { type: 'button', 'data-testid': 'accept-line', onclick: () => decide(claim, line, 'accept') }, 'Accept'),
        ' ', reason, ' ',
        h('button', { type: 'button', 'data-testid': 'reject-line', onclick: () => decide(claim, line, 'reject', reason.value) }, 'Reject'),
        h('p', { 'data-testid': 'line-status' }, line.status + (line.reason ? `: ${line.reason}` : '')))
      : h('p', { 'data-testid': 'line-status' }, line.status + (line.reason ? `: ${line.reason}` : ''));
    return h('tr', { 'data-testid': 'line', 'data-line-id': line.id, 'data-ref': line.ref, 'data-status': line.status },
      h('td', {}, line.date),
      h('td', {}, `${line.kind} ${line.service}`),
      h('td', {}, line.resident_id.slice(0, 8)),
      h('td', { class: 'money' }, line.minutes ?? '—'),
      h('td', { class: 'money' }, money(line.amount)),
      h('td', { class: 'money' }, money(line.payer_amount)),
      h('td', {}, line.attempt === 2 ? 'again' : 'first'),
      h('td', {}, decision));
  }

  async function decide(claim, line, decision, reason) {
    showError('');
    const body = decision === 'reject' ? { decision, reason: (reason || '').trim() } : { decision };
    try {
      render(await api('POST', `/claims/${claim.id}/lines/${line.id}/decision`, body));
    } catch (err) {
      showError(err.status === 422 ? `To reject a line, give a reason: ${err.message}` : err.message);
    }
  }

  async function acceptPending() {
    const claim = state.claim;
    for (const line of claim.lines.filter((l) => l.status === 'pending')) {
      await decide(claim, line, 'accept');
    }
  }

  async function closeClaim() {
    const claim = state.claim;
    try {
      const { total_accepted: accepted } = await api('POST', `/claims/${claim.id}/close`);
      render({ ...claim, status: 'closed', total_accepted: accepted });
      await loadQueue();
    } catch (err) {
      showError(`Could not close the claim: ${err.message}`);
    }
  }

  /** The CSV export, fetched with the session and saved as a file. */
  async function exportCsv() {
    const claim = state.claim;
    const res = await fetch(`/api/v1/claims/${claim.id}?format=csv`, {
      headers: { Authorization: `Bearer ${page.token}` }, cache: 'no-store',
    });
    if (!res.ok) return showError(`Could not export the claim (${res.status})`);
    const url = URL.createObjectURL(await res.blob());
    const link = h('a', { href: url, download: `claim-${claim.month}-${claim.id.slice(0, 8)}.csv` });
    document.body.append(link);
    link.click();
    link.remove();
    URL.revokeObjectURL(url);
  }

  function start() {
    showError('');
    showView('app');
    $('[data-testid="place-name"]').textContent = page.user.institution_name || page.user.division || '';
    loadQueue();
  }

  async function init() {
    $('[data-testid="login-form"]').addEventListener('submit', (event) => signIn(event, start));
    $('[data-testid="logout"]').addEventListener('click', () => ending.logout());
    $('[data-testid="accept-pending"]').addEventListener('click', acceptPending);
    $('[data-testid="close-claim"]').addEventListener('click', closeClaim);
    $('[data-testid="export"]').addEventListener('click', exportCsv);
    resume(start);
  }

  init();
})();
