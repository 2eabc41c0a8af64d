// The desk's follow-up calls (回访): a month's sample of each provider's
// verified visits, drawn once the month is over, those still to make
// first. Each row opens a small form: did she answer; if so, did the visit
// happen and how satisfied was she. "It did not happen" disputes the visit.
// Not answered may be tried again; answered is recorded once.

const I = window.eldercareI18n;
const t = I.t;
const { h } = window.eldercareCommon;

I.add('zh-CN', {
  'Follow-up calls': '服务回访',
  Month: '月份',
  Show: '显示',
  '{n} calls for {month}, {left} still to make': '{month}：共 {n} 个回访，{left} 个待完成',
  'The sample for {month} is drawn once the month is over.': '{month} 的抽样在月底结束后生成。',
  Elder: '老人',
  Provider: '服务机构',
  'Visit': '服务时间',
  Attempts: '拨打次数',
  'To call': '待回访',
  'No answer: tried once': '无人接听：已拨打 1 次',
  'No answer: tried {n} times': '无人接听：已拨打 {n} 次',
  'Recorded: the visit happened': '已记录：服务属实',
  'Recorded: the visit did not happen (disputed)': '已记录：服务未发生（已提出异议）',
  'Recorded': '已记录',
  'satisfaction {n}/5': '满意度 {n}/5',
  Call: '回访',
  'Did she answer?': '是否接听？',
  'Did the visit happen?': '服务是否发生？',
  Yes: '是',
  'Yes, she answered': '是，已接听',
  'Yes, it happened': '是，已上门',
  'No, it did not happen': '否，未上门',
  'She did not say': '未说明',
  Satisfaction: '满意度',
  'Very unhappy': '很不满意',
  'Very happy': '很满意',
  Save: '保存',
  Close: '关闭',
  'Say whether she answered.': '请选择是否接听。',
  'Saved: no answer, try again later.': '已保存：无人接听，请稍后再拨。',
  'Saved.': '已保存。',
});

/** `YYYY-MM` of a date in the browser's time. */
const monthOf = (date) => `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, '0')}`;
const monthName = (month) => {
  const [y, m] = month.split('-').map(Number);
  return I.dateTime(new Date(y, m - 1, 1), { year: 'numeric', month: 'long' });
};

/** How a call stands, as people read it. */
function status(call) {
  if (call.reached === true) {
    const happened = call.visit_happened === false ? t('Recorded: the visit did not happen (disputed)')
      : call.visit_happened === true ? t('Recorded: the visit happened') : t('Recorded');
    return call.satisfaction ? `${happened} · ${t('satisfaction {n}/5', { n: call.satisfaction })}` : happened;
  }
  if (call.reached === false) {
    return call.attempts === 1 ? t('No answer: tried once') : t('No answer: tried {n} times', { n: call.attempts });
  }
  return t('To call');
}

/**
 * The follow-up calls section: `api` calls the server, `showError` shows a
 * page-wide error. Answers `load`, to (re)read the chosen month.
 */
export function followUpCalls({ api, showError }) {
  const $ = (sel) => document.querySelector(sel);
  const monthSelect = $('[data-testid="follow-ups-month"]');
  const list = $('[data-testid="follow-ups"]');
  const summary = $('[data-testid="follow-ups-summary"]');
  // `read` counts the reads: only the latest is drawn, so a slow answer
  // for the month shown before cannot replace the month chosen since.
  const state = { calls: [], open: null, messages: {}, read: 0 };
  const when = (at) => (at ? I.dateTime(new Date(at), { dateStyle: 'medium', timeStyle: 'short' }) : '—');

  /** The last twelve months, last month first (this month is not drawn yet). */
  function months() {
    const chosen = monthSelect.value;
    const now = new Date();
    const options = [];
    for (let back = 1; back <= 12; back++) {
      const month = monthOf(new Date(now.getFullYear(), now.getMonth() - back, 1));
      options.push(h('option', { value: month, selected: month === chosen }, monthName(month)));
    }
    monthSelect.replaceChildren(...options);
    if (!chosen) monthSelect.value = options[0].value;
  }

  async function load() {
    months();
    const month = monthSelect.value;
    const read = ++state.read;
    try {
      const answer = await api('GET', `/follow-ups?month=${encodeURIComponent(month)}`);
      if (read !== state.read) return;
      state.calls = answer.follow_ups;
      render();
      const left = state.calls.filter((c) => c.reached !== true).length;
      summary.textContent = answer.drawn
        ? t('{n} calls for {month}, {left} still to make', { n: state.calls.length, month: monthName(month), left })
        : t('The sample for {month} is drawn once the month is over.', { month: monthName(month) });
    } catch (err) {
      if (read === state.read) showError(err.message);
    }
  }

  function render() {
    list.replaceChildren(...state.calls.map(row));
  }

  function row(call) {
    const open = state.open === call.id;
    const phone = call.resident_phone
      ? h('a', { href: `tel:${call.resident_phone}`, 'data-testid': 'follow-up-phone' }, call.resident_phone)
      : '—';
    const done = call.reached === true;
    return h('li', { class: done ? 'follow-up done' : 'follow-up', 'data-testid': 'follow-up', 'data-follow-up-id': call.id },
      h('div', { class: 'follow-up-row' },
        h('div', {},
          h('strong', { 'data-testid': 'follow-up-name' }, call.resident_name), ' · ', phone,
          h('p', { class: 'muted' }, `${call.institution_name} · ${call.service_name} · ${when(call.visit_at)}`)),
        h('div', {},
          h('p', { 'data-testid': 'follow-up-attempts' }, `${t('Attempts')}: ${call.attempts}`),
          h('p', { 'data-testid': 'follow-up-status', role: 'status' }, status(call))),
        done ? null : h('button', { type: 'button', class: 'big-target', 'data-testid': 'follow-up-open',
          'aria-expanded': open ? 'true' : 'false', onclick: () => toggle(call.id) }, t('Call'))),
      state.messages[call.id] ? h('p', { class: 'done', 'data-testid': 'follow-up-saved' }, state.messages[call.id]) : null,
      open ? form(call) : null);
  }

  function toggle(id) {
    state.open = state.open === id ? null : id;
    render();
    const opened = list.querySelector(`[data-follow-up-id="${id}"] ${state.open ? 'input' : '[data-testid="follow-up-open"]'}`);
    if (opened) opened.focus();
  }

  /** A set of radio buttons, each a large target. */
  function choices(name, legend, options, testid) {
    return h('fieldset', { class: 'choices', 'data-testid': testid },
      h('legend', {}, legend),
      ...options.map(([value, text]) => h('label', {},
        h('input', { type: 'radio', name, value, 'data-testid': `${testid}-${value}` }), ' ', text)));
  }

  function form(call) {
    const name = (what) => `${what}-${call.id}`;
    const error = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'follow-up-error', hidden: true });
    const reached = choices(name('reached'), t('Did she answer?'),
      [['yes', t('Yes, she answered')], ['no', t('No answer')]], 'fu-reached');
    const happened = choices(name('happened'), t('Did the visit happen?'),
      [['yes', t('Yes, it happened')], ['no', t('No, it did not happen')]], 'fu-happened');
    const satisfaction = choices(name('satisfaction'), t('Satisfaction'),
      [['1', `1 ${t('Very unhappy')}`], ['2', '2'], ['3', '3'], ['4', '4'], ['5', `5 ${t('Very happy')}`]], 'fu-satisfaction');
    const note = h('input', { type: 'text', maxlength: '2000', 'data-testid': 'fu-note' });
    const heard = h('div', { class: 'heard', hidden: true }, happened, satisfaction);
    const picked = (fieldset) => {
      const input = fieldset.querySelector('input:checked');
      return input ? input.value : null;
    };
    reached.addEventListener('change', () => { heard.hidden = picked(reached) !== 'yes'; });
    const save = h('button', { type: 'submit', class: 'primary big-target', 'data-testid': 'fu-save' }, t('Save'));
    async function submit(event) {
      event.preventDefault();
      error.hidden = true;
      showError('');
      const answered = picked(reached);
      if (!answered) {
        error.textContent = t('Say whether she answered.');
        error.hidden = false;
        return reached.querySelector('input').focus();
      }
      const body = { reached: answered === 'yes' };
      if (body.reached) {
        const visit = picked(happened);
        if (visit) body.visit_happened = visit === 'yes';
        const score = picked(satisfaction);
        if (score) body.satisfaction = Number(score);
      }
      if (note.value.trim()) body.note = note.value.trim();
      save.disabled = true;
      try {
        const saved = await api('POST', `/follow-ups/${call.id}`, body);
        state.calls = state.calls.map((c) => (c.id === saved.id ? saved : c));
        state.messages[saved.id] = saved.reached ? t('Saved.') : t('Saved: no answer, try again later.');
        state.open = null;
        render();
        const back = list.querySelector(`[data-follow-up-id="${saved.id}"] button, [data-follow-up-id="${saved.id}"] a`);
        if (back) back.focus();
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
        save.disabled = false;
      }
    }
    return h('form', { class: 'follow-up-form', 'data-testid': 'follow-up-form', novalidate: true, onsubmit: submit,
      onkeydown: (event) => { if (event.key === 'Escape') toggle(call.id); } },
    reached, heard,
    h('label', {}, t('Note'), ' ', note),
    error,
    h('div', { class: 'buttons' }, save,
      h('button', { type: 'button', class: 'big-target', 'data-testid': 'fu-close', onclick: () => toggle(call.id) }, t('Close'))));
  }

  monthSelect.addEventListener('change', () => {
    state.open = null;
    state.messages = {};
    load();
  });
  $('[data-testid="follow-ups-show"]').addEventListener('click', load);
  return { load };
}
