// The trace (全程留痕): the chain an alert or a visit belongs to, from the
// alarm to the payer's decision, as a vertical timeline in the side panel.
// Each step shows when, who, what, and the audit entries that record it,
// so a question about one record is answered without reading four lists.
// Opened from an alert's panel, or from a visit on today's board (a link
// to /console/#trace/visit/{id}, read once the console has started).

import { $, I18N, fmtWhen, h, humanize, kindLabel, num, state, t } from './base.js';
import { api } from './session.js';
import { inlineError, loading, openPanel } from './panel.js';

I18N.add('zh-CN', {
  Trace: '全程留痕',
  'Trace of the alert': '告警全程留痕',
  'Trace of the visit': '上门服务全程留痕',
  'Alert raised': '告警触发',
  'Carer dispatched': '已派遣护理员',
  'Visit planned': '已安排上门服务',
  'At the door (EVV)': '上门核验（EVV）',
  'Bill line': '账单明细',
  'Claimed from the payer': '向支付方申报',
  "Payer's decision": '支付方审核结果',
  'by the system': '系统',
  Audit: '审计记录',
  'No audit entry for this step.': '此步骤没有审计记录。',
  'Nothing further yet: the chain ends here.': '暂无后续步骤：链条到此为止。',
  Verified: '已核验',
  'Not verified': '未核验',
  accepted: '已通过',
  rejected: '已拒绝',
  pending: '待审核',
  min: '分钟',
  'Exceptions: {list}': '异常：{list}',
  'Payer pays {amount}': '支付方承担 {amount}',
  'Attempt {n}': '第 {n} 次申报',
});

const STEP_LABELS = {
  alert: 'Alert raised',
  visit: 'Visit planned',
  evv: 'At the door (EVV)',
  bill_line: 'Bill line',
  claim_line: 'Claimed from the payer',
  decision: "Payer's decision",
};

const TRACE_HASH = /^#trace\/(alert|visit|bill_line|claim_line)\/([0-9a-f-]{36})$/;

/** Opens the trace of the record `id` of `kind` in the side panel. */
export async function openTracePanel(kind, id, opener) {
  const title = t(kind === 'alert' ? 'Trace of the alert' : kind === 'visit' ? 'Trace of the visit' : 'Trace');
  const generation = openPanel('trace', id, title, opener);
  const body = $('.panel-body', $('#panel'));
  body.append(loading());
  let trace;
  try {
    trace = await api('GET', `/trace/${kind}/${id}`);
  } catch (err) {
    if (generation === state.panel.generation) body.replaceChildren(inlineError(err));
    return;
  }
  if (generation !== state.panel.generation) return;
  body.replaceChildren(timeline(trace));
}

/** The console was opened on a trace link (from the board): show it. */
export function openTraceFromHash() {
  const m = TRACE_HASH.exec(window.location.hash);
  if (!m) return;
  history.replaceState(null, '', window.location.pathname + window.location.search);
  openTracePanel(m[1], m[2]);
}

window.addEventListener('hashchange', () => {
  if (state.user) openTraceFromHash();
});

function timeline(trace) {
  const steps = trace.steps.map((s) => stepItem(s, s.kind === trace.anchor.kind && s.id === trace.anchor.id));
  const last = trace.steps[trace.steps.length - 1];
  return h(
    'div',
    { class: 'trace-wrap' },
    h('ol', { class: 'timeline trace', 'data-testid': 'trace' }, steps),
    last && last.kind !== 'decision' ? h('p', { class: 'muted', 'data-testid': 'trace-end' }, 'Nothing further yet: the chain ends here.') : null,
  );
}

function stepItem(step, isAnchor) {
  const label = step.kind === 'visit' && step.summary.origin === 'alert' ? 'Carer dispatched' : STEP_LABELS[step.kind];
  return h(
    'li',
    { class: `trace-step${isAnchor ? ' anchor' : ''}`, 'data-testid': 'trace-step', 'data-kind': step.kind, 'data-id': step.id },
    h('time', { datetime: step.at }, fmtWhen(step.at)),
    h('strong', {}, ` ${t(label)}`),
    ` · ${step.by ? `${step.by.name} (${t(humanize(step.by.role))})` : t('by the system')}`,
    h('span', { class: 'detail', 'data-testid': 'trace-summary' }, what(step)),
    auditList(step.audit),
  );
}

/** One line on the step, from its summary. */
function what(step) {
  const s = step.summary || {};
  const money = (v) => (typeof v === 'number' ? num(v, 2) : '?');
  switch (step.kind) {
    case 'alert':
      return [kindLabel(s.kind), String(s.severity || '').toUpperCase(), t(humanize(s.status))].filter(Boolean).join(' · ');
    case 'visit':
      return [s.service_name || s.service_code, t(humanize(s.status)), s.scheduled_start ? fmtWhen(s.scheduled_start) : null]
        .filter(Boolean)
        .join(' · ');
    case 'evv': {
      const parts = [`${fmtWhen(s.start)}–${s.end ? fmtWhen(s.end) : '…'}`];
      if (typeof s.minutes === 'number') parts.push(`${num(s.minutes)} ${t('min')}`);
      parts.push(t(s.verified ? 'Verified' : 'Not verified'));
      const open = (s.exceptions || []).filter((e) => !(s.resolved || []).includes(e));
      if (open.length) parts.push(t('Exceptions: {list}', { list: open.map(humanize).join(', ') }));
      return parts.join(' · ');
    }
    case 'bill_line':
      return [s.date, s.service, money(s.amount), s.payer ? t('Payer pays {amount}', { amount: money(s.payer_amount) }) : null]
        .filter(Boolean)
        .join(' · ');
    case 'claim_line':
      return [s.month, t(humanize(s.payer)), money(s.payer_amount), t('Attempt {n}', { n: s.attempt }), t(s.status)].join(' · ');
    case 'decision':
      return [t(s.decision), s.reason].filter(Boolean).join(' — ');
    default:
      return '';
  }
}

function auditList(entries) {
  if (!entries.length) return h('p', { class: 'muted trace-audit', 'data-testid': 'trace-audit' }, 'No audit entry for this step.');
  return h(
    'ul',
    { class: 'trace-audit', 'data-testid': 'trace-audit', 'aria-label': t('Audit') },
    entries.map((e) =>
      h(
        'li',
        { 'data-audit-id': e.id, title: e.hash },
        h('code', {}, `#${e.id}`),
        ` ${e.action} · ${fmtWhen(e.at)}${e.actor ? ` · ${e.actor.name}` : ''}`,
      ),
    ),
  );
}
