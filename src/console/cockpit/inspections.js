// The inspections of the cockpit, for the civil-affairs bureau: the
// inspections of its division's providers, latest first, with how many of
// their findings are not yet verified; a form to schedule one; and for a
// recorded one its findings, the provider's answers, and the bureau's
// verdict on each answered one (verified, or reopened to be answered again).
// A scheduled one opens on the form of its results: each checklist item
// passed or failed with a note, and the findings. The API holds the rules
// (every item answered once, a finding's day not past): the page shows its
// refusal beside the form.

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
  'No findings.': '没有发现问题。',
  'Record results': '记录结果',
  'Results of {name}, {date}': '{name} 的检查结果（{date}）',
  Result: '结果',
  Passed: '合格',
  Failed: '不合格',
  Note: '说明',
  'Note on {item}': '{item}的说明',
  'Finding {n}': '问题 {n}',
  'Add a finding': '添加问题',
  Remove: '删除',
  'Remove finding {n}': '删除问题 {n}',
  'Record the results': '提交检查结果',
  Checklist: '检查清单',
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
/** A finding's fields as the form names them. */
const FINDING_FIELDS = { item: 'Item', severity: 'Severity', text: 'Finding', rectify_by: 'Put right by' };

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
    /** The results being recorded for the selected scheduled inspection:
     * each item's answer (true, false, or not yet) and note by code, the
     * findings, whether a submit is on its way, and the API's refusal of
     * the last one. */
    draft: null,
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

  async function record(event, inspection) {
    event.preventDefault();
    const draft = view.draft;
    if (draft.saving) return;
    // Only the answered items: the API names any left out.
    const items = inspection.checklist.filter((c) => draft.passed[c.code] !== undefined).map((c) => {
      const note = (draft.notes[c.code] || '').trim();
      return { code: c.code, passed: draft.passed[c.code], ...(note ? { note } : {}) };
    });
    draft.saving = true;
    try {
      await api('POST', `/inspections/${inspection.id}/results`, { items, findings: draft.findings });
      view.draft = null;
      await load();
      root.querySelector('[data-testid="findings"] h3')?.focus();
    } catch (err) {
      draft.saving = false;
      if (err.status === 401) return;
      if (err.status < 400 || err.status >= 500) return onError(`${t('Could not save')}: ${err.message}`);
      draft.refusal = { field: err.details.field || '', message: err.message, items };
      render();
      const wrong = root.querySelector('.results-form [aria-invalid="true"]');
      (wrong?.querySelector('input') || wrong || root.querySelector('[data-testid="results-submit"]')).focus();
    }
  }

  function render() {
    if (!view.inspections) return;
    // replaceChildren would write a null out as text.
    root.replaceChildren(...[
      h('div', { class: 'district-head' }, h('h2', { 'data-testid': 'inspections-title' }, t('Inspections'))),
      form(),
      h('article', { class: 'panel table' }, list()),
      findings(),
    ].filter(Boolean));
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
            type: 'button', 'aria-pressed': String(view.selected === i.id),
            'data-testid': i.status === 'scheduled' ? 'inspection-record' : 'inspection-findings',
            onclick: () => {
              view.selected = view.selected === i.id ? null : i.id;
              render();
            },
          }, i.status === 'scheduled' ? t('Record results') : t('Findings'))));
      })));
  }

  function findings() {
    const inspection = view.inspections.find((i) => i.id === view.selected);
    if (!inspection) return null;
    if (inspection.status === 'scheduled') return results(inspection);
    const detail = view.details.get(inspection.id);
    if (!detail) return null;
    const title = h('h3', { tabindex: -1 }, t('Findings of {name}, {date}', { name: inspection.institution_name, date: day(inspection.scheduled_for) }));
    if (!detail.findings.length) {
      const allPassed = (detail.results || []).every((r) => r.passed);
      return h('article', { class: 'panel', 'data-testid': 'findings' }, title,
        h('p', { class: 'muted' }, allPassed ? t('No findings: every item passed.') : t('No findings.')));
    }
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

  /** The form of a scheduled inspection's results. */
  function results(inspection) {
    if (view.draft?.id !== inspection.id) view.draft = { id: inspection.id, passed: {}, notes: {}, findings: [] };
    const draft = view.draft;
    const { checklist } = inspection;
    const refusal = draft.refusal;
    const invalid = (wrong) => (wrong ? 'true' : null);
    const items = checklist.map((c) => {
      const head = `result-item-${c.code}`;
      const choice = (passed, text) => h('label', { class: 'choice' },
        h('input', {
          type: 'radio', name: `passed-${c.code}`, checked: draft.passed[c.code] === passed,
          'data-testid': passed ? 'result-passed' : 'result-failed',
          onchange: () => { draft.passed[c.code] = passed; },
        }), ` ${text}`);
      const unanswered = refusal?.field === 'items' && draft.passed[c.code] === undefined;
      return h('tr', { 'data-testid': 'result-item', 'data-code': c.code },
        h('th', { scope: 'row', id: head }, c.text),
        h('td', {}, h('div', { role: 'radiogroup', 'aria-labelledby': head, 'aria-invalid': invalid(unanswered) },
          choice(true, t('Passed')), choice(false, t('Failed')))),
        h('td', {}, h('input', {
          type: 'text', value: draft.notes[c.code] || '', maxlength: 2000, 'data-testid': 'result-note',
          'aria-label': t('Note on {item}', { item: c.text }),
          oninput: (e) => { draft.notes[c.code] = e.target.value; },
        })));
    });
    const findingFields = draft.findings.map((f, n) => {
      const id = (name) => `result-finding-${n}-${name}`;
      const wrong = (name) => invalid(refusal?.field === `findings[${n}].${name}`);
      const choose = (name, options) => h('select', {
        id: id(name), 'data-testid': `result-finding-${name}`, 'aria-invalid': wrong(name),
        onchange: (e) => { f[name] = e.target.value; },
      }, options.map(([value, text]) => {
        const option = h('option', { value }, text);
        option.selected = value === f[name];
        return option;
      }));
      const field = (name, control) => [h('label', { for: id(name) }, t(FINDING_FIELDS[name])), control];
      return h('fieldset', { 'data-testid': 'result-finding' },
        h('legend', {}, t('Finding {n}', { n: I.number(n + 1) })),
        field('item', choose('item', checklist.map((c) => [c.code, c.text]))),
        field('severity', choose('severity', Object.entries(SEVERITY).map(([key, text]) => [key, t(text)]))),
        field('text', h('textarea', {
          id: id('text'), rows: 2, maxlength: 2000, 'data-testid': 'result-finding-text', 'aria-invalid': wrong('text'),
          oninput: (e) => { f.text = e.target.value; },
        }, f.text)),
        field('rectify_by', h('input', {
          id: id('rectify_by'), type: 'date', value: f.rectify_by, min: inDays(0),
          'data-testid': 'result-finding-rectify-by', 'aria-invalid': wrong('rectify_by'),
          onchange: (e) => { f.rectify_by = e.target.value; },
        })),
        h('button', {
          type: 'button', 'data-testid': 'result-finding-remove', 'aria-label': t('Remove finding {n}', { n: I.number(n + 1) }),
          onclick: () => {
            draft.findings.splice(n, 1);
            render();
            root.querySelector('[data-testid="result-add-finding"]').focus();
          },
        }, t('Remove')));
    });
    const add = () => {
      draft.findings.push({ item: checklist[0].code, severity: 'minor', text: '', rectify_by: inDays(14) });
      render();
      root.querySelector(`#result-finding-${draft.findings.length - 1}-item`).focus();
    };
    return h('form', {
      class: 'panel table results-form', 'data-testid': 'results-form', novalidate: true,
      onsubmit: (event) => record(event, inspection),
    },
    h('h3', {}, t('Results of {name}, {date}', { name: inspection.institution_name, date: day(inspection.scheduled_for) })),
    h('table', {},
      h('thead', {}, h('tr', {}, [t('Item'), t('Result'), t('Note')].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, items)),
    h('h4', {}, t('Findings')),
    findingFields,
    h('div', { class: 'form-actions' },
      h('button', { type: 'button', 'data-testid': 'result-add-finding', onclick: add }, t('Add a finding')),
      h('button', { type: 'submit', class: 'primary', 'data-testid': 'results-submit' }, t('Record the results'))),
    h('p', { class: 'form-error', role: 'alert', 'data-testid': 'results-error' }, refusal ? refused(refusal, checklist) : ''));
  }

  /** The API's refusal, with where it points in the form's words:
   * `findings[1].rectify_by` is the second finding's day to put it right by. */
  function refused({ field, message, items }, checklist) {
    const [, list, n, name] = /^(items|findings)\[(\d+)\]\.(\w+)$/.exec(field) || [];
    let where = field === 'items' ? t('Checklist') : '';
    if (list === 'items') where = checklist.find((c) => c.code === items[n]?.code)?.text || '';
    if (list === 'findings') where = `${t('Finding {n}', { n: I.number(Number(n) + 1) })} · ${t(FINDING_FIELDS[name] || name)}`;
    return `${t('Could not save')}: ${where ? `${where}: ` : ''}${message}`;
  }

  // A view of an ended session draws nothing more.
  let live = true;
  I.onChange(() => live && render());
  return { load, render, stop: () => { live = false; } };
}
