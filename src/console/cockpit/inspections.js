// The inspections of the cockpit, for the civil-affairs bureau: the
// inspections of its division's providers, latest first, with how many of
// their findings are not yet verified; a form to schedule one; and for a
// recorded one its findings, the provider's answers, and the bureau's
// verdict on each answered one (verified, or reopened to be answered again).
// Results are recorded through the API (`POST /inspections/{id}/results`).

const I = window.eldercareI18n;
const t = I.t;
const { h } = window.eldercareCommon;

I.add('zh-CN', {
  Inspections: '监督检查',
  'Schedule an inspection': '安排检查',
  Provider: '服务商',
  Date: '日期',
  Schedule: '安排',
  'Choose a provider and a date.': '请选择服务商和日期。',
  'Inspection scheduled.': '检查已安排。',
  'No inspection yet.': '暂无检查。',
  Status: '状态',
  'Open findings': '未核验的问题',
  'Inspection scheduled': '待检查',
  'Inspection recorded': '已检查',
  Findings: '发现的问题',
  'Findings of {name}, {date}': '{name} 的检查问题（{date}）',
  'No findings: every item passed.': '没有发现问题：各项均合格。',
  'Not recorded yet: results are recorded through the API.': '尚未记录结果：结果通过接口记录。',
  Item: '检查项',
  Severity: '严重程度',
  Finding: '问题',
  'Put right by': '整改期限',
  Answer: '服务商答复',
  Minor: '轻微',
  Major: '较重',
  Critical: '严重',
  'To put right': '待整改',
  'Overdue to put right': '整改超期',
  'Answered, to verify': '已答复待核验',
  Verified: '已核验',
  Verify: '核验通过',
  Reopen: '退回重改',
  'reopened {n}×': '已退回 {n} 次',
  'Could not save': '无法保存',
});

const INSPECTION_STATUS = { scheduled: 'Inspection scheduled', recorded: 'Inspection recorded' };
const SEVERITY = { minor: 'Minor', major: 'Major', critical: 'Critical' };
const FINDING_STATUS = {
  open: 'To put right', overdue: 'Overdue to put right', answered: 'Answered, to verify', verified: 'Verified',
};
const label = (labels, key) => t(labels[key] || key);

/** Findings not yet put right to the bureau's satisfaction. */
const openCount = (inspection) => inspection.findings.filter((f) => f.status !== 'verified').length;

/** A day (YYYY-MM-DD) as the locale writes it. */
function day(date) {
  const [y, m, d] = date.split('-').map(Number);
  return I.dateTime(new Date(Date.UTC(y, m - 1, d)), { dateStyle: 'medium', timeZone: 'UTC' });
}

/** Today plus `days`, as YYYY-MM-DD in the local calendar. */
function inDays(days) {
  const d = new Date();
  d.setDate(d.getDate() + days);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

const PROVIDER_KINDS = ['care_home', 'home_care', 'community_center'];

export function inspectionsView({ api, root, onError }) {
  const view = {
    inspections: null,
    /** Recorded inspections with their findings, by id. */
    details: new Map(),
    providers: [],
    /** The inspection whose findings are shown. */
    selected: null,
    form: { institution: '', date: inDays(7) },
    notice: '',
  };

  async function load() {
    try {
      const [list, institutions] = await Promise.all([
        api('GET', '/inspections'),
        api('GET', '/institutions?limit=1000'),
      ]);
      view.providers = institutions.institutions.filter((i) => PROVIDER_KINDS.includes(i.kind));
      const recorded = list.inspections.filter((i) => i.status === 'recorded');
      const details = await Promise.all(recorded.map((i) => api('GET', `/inspections/${i.id}`)));
      view.details = new Map(details.map((d) => [d.id, d]));
      view.inspections = list.inspections;
      onError('');
      render();
    } catch (err) {
      if (err.status !== 401) onError(`${t('Could not load the figures')}: ${err.message}`);
    }
  }

  async function schedule(event) {
    event.preventDefault();
    const { institution, date } = view.form;
    if (!institution || !date) {
      view.notice = t('Choose a provider and a date.');
      return render();
    }
    try {
      await api('POST', '/inspections', { institution_id: institution, scheduled_for: date });
      view.notice = t('Inspection scheduled.');
      view.form.institution = '';
      await load();
    } catch (err) {
      if (err.status !== 401) onError(`${t('Could not save')}: ${err.message}`);
    }
  }

  async function verify(finding, accepted) {
    try {
      await api('POST', `/inspection-findings/${finding.id}/verify`, { accepted });
      await load();
    } catch (err) {
      if (err.status !== 401) onError(`${t('Could not save')}: ${err.message}`);
    }
  }

  function render() {
    if (!view.inspections) return;
    root.replaceChildren(
      h('div', { class: 'district-head' }, h('h2', { 'data-testid': 'inspections-title' }, t('Inspections'))),
      form(),
      h('article', { class: 'panel table' }, list()),
      findings(),
    );
  }

  function form() {
    const provider = h('select', {
      id: 'inspection-provider', 'data-testid': 'inspection-provider', required: true,
      onchange: () => { view.form.institution = provider.value; },
    },
    h('option', { value: '' }, '—'),
    view.providers.map((p) => {
      const option = h('option', { value: p.id }, p.name);
      option.selected = p.id === view.form.institution;
      return option;
    }));
    const date = h('input', {
      id: 'inspection-date', type: 'date', value: view.form.date, min: inDays(0), required: true,
      'data-testid': 'inspection-date',
      onchange: () => { view.form.date = date.value; },
    });
    return h('form', { class: 'panel inspection-form', 'data-testid': 'inspection-form', novalidate: true, onsubmit: schedule },
      h('h3', {}, t('Schedule an inspection')),
      h('label', { for: 'inspection-provider' }, t('Provider')), provider,
      h('label', { for: 'inspection-date' }, t('Date')), date,
      h('button', { type: 'submit', class: 'primary', 'data-testid': 'inspection-schedule' }, t('Schedule')),
      h('p', { class: 'muted', role: 'status', 'data-testid': 'inspection-notice' }, view.notice));
  }

  function list() {
    if (!view.inspections.length) return h('p', { class: 'muted' }, t('No inspection yet.'));
    return h('table', { 'data-testid': 'inspections-table' },
      h('thead', {}, h('tr', {}, [t('Provider'), t('Date'), t('Status'), t('Open findings'), ''].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, view.inspections.map((i) => {
        const detail = view.details.get(i.id);
        return h('tr', { 'data-testid': 'inspection-row', 'data-inspection-id': i.id, 'aria-current': view.selected === i.id ? 'true' : null },
          h('th', { scope: 'row' }, i.institution_name),
          h('td', {}, day(i.scheduled_for)),
          h('td', { 'data-testid': 'inspection-status' }, label(INSPECTION_STATUS, i.status)),
          h('td', { 'data-testid': 'inspection-open' }, detail ? I.number(openCount(detail)) : '—'),
          h('td', {}, h('button', {
            type: 'button', 'data-testid': 'inspection-findings', 'aria-pressed': String(view.selected === i.id),
            onclick: () => {
              view.selected = view.selected === i.id ? null : i.id;
              render();
            },
          }, t('Findings'))));
      })));
  }

  function findings() {
    const inspection = view.inspections.find((i) => i.id === view.selected);
    if (!inspection) return null;
    const detail = view.details.get(inspection.id);
    const title = h('h3', {}, t('Findings of {name}, {date}', { name: inspection.institution_name, date: day(inspection.scheduled_for) }));
    if (!detail) return h('article', { class: 'panel', 'data-testid': 'findings' }, title, h('p', { class: 'muted' }, t('Not recorded yet: results are recorded through the API.')));
    if (!detail.findings.length) return h('article', { class: 'panel', 'data-testid': 'findings' }, title, h('p', { class: 'muted' }, t('No findings: every item passed.')));
    const items = new Map(detail.checklist.map((c) => [c.code, c.text]));
    return h('article', { class: 'panel table', 'data-testid': 'findings' }, title,
      h('table', {},
        h('thead', {}, h('tr', {}, [t('Item'), t('Severity'), t('Finding'), t('Put right by'), t('Status'), t('Answer'), ''].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, detail.findings.map((f) => h('tr', { 'data-testid': 'finding-row', 'data-finding-id': f.id },
          h('td', { title: f.item }, items.get(f.item) || f.item),
          h('td', { 'data-severity': f.severity }, label(SEVERITY, f.severity)),
          h('td', {}, f.text),
          h('td', {}, day(f.rectify_by)),
          h('td', { 'data-testid': 'finding-status', 'data-status': f.status },
            label(FINDING_STATUS, f.status), f.reopened ? h('span', { class: 'muted' }, ` · ${t('reopened {n}×', { n: I.number(f.reopened) })}`) : null),
          h('td', { 'data-testid': 'finding-answer' }, f.answer || '—'),
          h('td', { class: 'actions' }, f.status === 'answered' ? [
            h('button', { type: 'button', class: 'primary', 'data-testid': 'finding-verify', onclick: () => verify(f, true) }, t('Verify')),
            h('button', { type: 'button', 'data-testid': 'finding-reopen', onclick: () => verify(f, false) }, t('Reopen')),
          ] : null))))));
  }

  // A view of an ended session draws nothing more.
  let live = true;
  I.onChange(() => live && render());
  return { load, render, stop: () => { live = false; } };
}
