// The provider scores of the cockpit, for the civil-affairs bureau and
// supervisors: a month's score from 0 to 100 per care provider overseen,
// best first, each component's value beside its weight, the raw figures
// behind them on demand and the formula under the table, so a reader can
// check any score by hand.

const I = window.eldercareI18n;
const t = I.t;
const { h } = window.eldercareCommon;

I.add('zh-CN', {
  'Provider scores': '服务商评分',
  Month: '月份',
  Provider: '服务商',
  Score: '评分',
  'weight {weight}': '权重 {weight}',
  'No care provider to score.': '没有可评分的服务商。',
  'How the score is computed': '评分计算方法',
  'Figures of the month': '本月原始数据',
  'Alerts acknowledged within 60 s': '60 秒内确认的告警',
  'Visits on time': '准时上门',
  'Visits without EVV exceptions': '无核验异常的上门',
  'Upheld complaints per 100 elders': '每百名老人成立的投诉',
  'Follow-up satisfaction': '回访满意度',
  'Visits confirmed on follow-up': '回访确认服务属实',
  'Inspection findings': '检查发现的问题',
  'Alerts to answer': '需应答的告警',
  'Answered within 60 s': '60 秒内应答',
  'Visits due': '应上门次数',
  'Visits completed': '完成的上门',
  'Visits with EVV exceptions': '有核验异常的上门',
  'Elders served': '服务的老人',
  'Complaints upheld': '成立的投诉',
  'Satisfaction answers': '满意度回答',
  'Satisfaction sum (1–5 each)': '满意度合计（每次 1–5）',
  'Asked whether the visit happened': '询问服务是否属实',
  'Said it happened': '确认属实',
  'Minor findings': '轻微问题',
  'Major findings': '较重问题',
  'Critical findings': '严重问题',
  'Inspected this month': '本月接受检查',
  Yes: '是',
  No: '否',
});

/** Each component as people read it; the server names them. */
const COMPONENTS = {
  alerts_acknowledged_within_60s: 'Alerts acknowledged within 60 s',
  visits_on_time: 'Visits on time',
  visits_without_evv_exceptions: 'Visits without EVV exceptions',
  complaints_upheld_per_100_elders: 'Upheld complaints per 100 elders',
  follow_up_satisfaction: 'Follow-up satisfaction',
  follow_up_visit_happened: 'Visits confirmed on follow-up',
  inspection_findings: 'Inspection findings',
};

/** The raw figures, in the order they are shown. */
const FIGURES = [
  ['alerts', 'Alerts to answer'],
  ['alerts_within_60s', 'Answered within 60 s'],
  ['visits_due', 'Visits due'],
  ['visits_on_time', 'Visits on time'],
  ['visits_completed', 'Visits completed'],
  ['visits_with_exceptions', 'Visits with EVV exceptions'],
  ['elders', 'Elders served'],
  ['complaints_upheld', 'Complaints upheld'],
  ['satisfaction_answers', 'Satisfaction answers'],
  ['satisfaction_sum', 'Satisfaction sum (1–5 each)'],
  ['happened_answers', 'Asked whether the visit happened'],
  ['happened_yes', 'Said it happened'],
  ['findings_minor', 'Minor findings'],
  ['findings_major', 'Major findings'],
  ['findings_critical', 'Critical findings'],
  ['inspected', 'Inspected this month'],
];

const componentLabel = (name) => t(COMPONENTS[name] || name.replace(/_/g, ' '));

/** The month before this one, as YYYY-MM. */
function lastMonth() {
  const now = new Date();
  const d = new Date(now.getFullYear(), now.getMonth() - 1, 1);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}`;
}

export function scoresView({ api, root, onError }) {
  const view = { data: null, month: lastMonth(), open: new Set() };

  async function load() {
    try {
      view.data = await api('GET', `/providers/scores?month=${encodeURIComponent(view.month)}`);
      onError('');
      render();
    } catch (err) {
      if (err.status !== 401) onError(`${t('Could not load the figures')}: ${err.message}`);
    }
  }

  function render() {
    const month = h('input', {
      id: 'scores-month', type: 'month', value: view.month, max: lastMonth(), 'data-testid': 'scores-month',
      onchange: () => {
        if (!/^\d{4}-\d{2}$/.test(month.value)) return;
        view.month = month.value;
        load();
      },
    });
    const data = view.data;
    // replaceChildren would write a null out as text.
    root.replaceChildren(...[
      h('div', { class: 'district-head' },
        h('h2', { 'data-testid': 'scores-title' }, t('Provider scores')),
        h('label', { for: 'scores-month' }, `${t('Month')} `), month),
      data ? table(data) : null,
    ].filter(Boolean));
  }

  function table(data) {
    if (!data.providers.length) return h('p', { class: 'muted', 'data-testid': 'scores-empty' }, t('No care provider to score.'));
    const names = data.providers[0].components.map((c) => [c.name, c.weight]);
    return h('article', { class: 'panel table' },
      h('div', { class: 'scroll' },
        h('table', { class: 'scores', 'data-testid': 'scores-table' },
          h('thead', {}, h('tr', {},
            h('th', { scope: 'col' }, '#'),
            h('th', { scope: 'col' }, t('Provider')),
            h('th', { scope: 'col' }, t('Score')),
            names.map(([name, weight]) => h('th', { scope: 'col', 'data-component': name },
              componentLabel(name), h('span', { class: 'weight' }, t('weight {weight}', { weight: I.number(weight) })))))),
          h('tbody', {}, data.providers.flatMap((p, i) => row(p, i + 1))))),
      h('h3', {}, t('How the score is computed')),
      h('p', { class: 'formula', 'data-testid': 'score-formula' }, data.formula));
  }

  /** A provider's row, and under it the row of its raw figures, shown
   * when the provider's name is pressed. */
  function row(p, rank) {
    const id = `score-figures-${p.institution_id}`;
    const expanded = view.open.has(p.institution_id);
    const figures = h('tr', { id, class: 'figures-row', 'data-testid': 'score-figures', 'data-institution-id': p.institution_id, hidden: !expanded },
      h('td', {}),
      h('td', { colspan: 2 + p.components.length },
        h('dl', { class: 'raw-figures', 'aria-label': `${t('Figures of the month')}: ${p.name}` }, FIGURES.map(([key, label]) => {
          const v = p.figures[key];
          const shown = typeof v === 'boolean' ? t(v ? 'Yes' : 'No') : I.number(v);
          return h('div', {}, h('dt', {}, t(label)), h('dd', { 'data-figure': key }, shown));
        }))));
    const toggle = h('button', {
      type: 'button', class: 'disclosure', 'aria-expanded': String(expanded), 'aria-controls': id,
      title: t('Figures of the month'), 'data-testid': 'score-expand',
      onclick: () => {
        const open = toggle.getAttribute('aria-expanded') !== 'true';
        toggle.setAttribute('aria-expanded', String(open));
        figures.hidden = !open;
        if (open) view.open.add(p.institution_id);
        else view.open.delete(p.institution_id);
      },
    }, p.name);
    return [
      h('tr', { 'data-testid': 'score-row', 'data-institution-id': p.institution_id },
        h('td', {}, I.number(rank)),
        h('th', { scope: 'row' }, toggle),
        h('td', { class: 'score', 'data-testid': 'score' }, p.score === null ? '—' : I.number(p.score)),
        p.components.map((c) => h('td', { 'data-component': c.name },
          c.value === null ? '—' : I.percent(c.value * 100, 0)))),
      figures,
    ];
  }

  // A view of an ended session draws nothing more.
  let live = true;
  I.onChange(() => live && render());
  return { load, render, stop: () => { live = false; } };
}
