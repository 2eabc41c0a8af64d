// The hotline desk (81890-style). A number typed in, or passed by the
// telephony system as /desk?caller=+86..., finds the elder or her family:
// who she is, where she is, what is open for her, the last calls. From her
// card, in a few keystrokes: an SOS (she calls for help), a service
// ordered for her, a call logged with what it was. Beside it, the check
// calls: elders living alone nobody has been in touch with, each call
// logged; two unanswered send someone to the door. Below, the follow-up
// calls on a month's sampled visits (`desk/follow_ups.js`). Plain
// JavaScript, its own session (its token in sessionStorage).
import { followUpCalls } from './follow_ups.js';

(() => {
  const TOKEN_KEY = 'eldercare.desk.token';
  const $ = (sel) => document.querySelector(sel);
  const I = window.eldercareI18n;
  const t = I.t;
  const { h } = window.eldercareCommon;
  const state = { phone: null };

  I.add('zh-CN', {
    'Hotline desk · eldercare': '服务热线 · eldercare',
    'Hotline desk': '服务热线',
    'The hotline desk: elders and families calling, the check calls and the follow-up calls.':
      '服务热线：老人和家属来电、主动关怀回访和服务回访。',
    'Who is calling': '来电人',
    'Phone number': '电话号码',
    Find: '查找',
    'Nobody on record has this number': '未找到此号码的登记信息',
    'What the call was': '来电事由',
    Note: '备注',
    'Log the call': '登记通话',
    'Check calls': '关怀回访',
    Refresh: '刷新',
    'Give the number in international form, e.g. +8613800000000.': '请输入国际格式号码，例如 +8613800000000。',
    '{n} found for {phone}': '{phone}：找到 {n} 位',
    'Her own phone': '老人本人电话',
    'Family: {name}': '家属：{name}',
    Age: '年龄',
    Gender: '性别',
    'Female': '女',
    'Male': '男',
    Phone: '电话',
    Address: '地址',
    Community: '社区',
    Lives: '居住',
    'Alone': '独居',
    'With spouse': '与配偶同住',
    'With family': '与家人同住',
    'Other': '其他',
    Status: '状态',
    'At home': '在家',
    'In hospital': '住院',
    'Away': '外出',
    'Respite stay': '喘息照护',
    'Discharged': '已离开',
    'Deceased': '已故',
    'Now': '此刻',
    Home: '在家',
    Incoming: '来电',
    Outgoing: '去电',
    'Out': '外出',
    'Unsure': '不确定',
    'Open alerts': '未处理告警',
    'Open requests': '进行中的服务',
    'Last calls': '最近通话',
    None: '无',
    'SOS: send help now': '紧急求助：立即派人',
    'Raise an SOS for {name}? Her care team is alerted at once.': '为 {name} 发起紧急求助？将立即通知照护团队。',
    'Yes, raise the SOS': '确认发起',
    Cancel: '取消',
    'What she says': '情况说明',
    'Order a service': '预约服务',
    Service: '服务',
    Order: '预约',
    'Nothing is offered where she lives.': '她所在区域暂无服务机构。',
    'Log this call': '登记本次通话',
    Log: '登记',
    'Service ordered': '服务预约',
    'Call for help': '紧急求助',
    'Information': '咨询',
    'Complaint': '投诉',
    'Wellbeing call': '问候关怀',
    'No answer': '无人接听',
    'SOS raised: her care team has it.': '已发起紧急求助，照护团队已收到。',
    'Ordered: {service}, offered to providers now.': '已预约：{service}，正在派单给服务机构。',
    'Call logged.': '通话已登记。',
    '{n} elders to call (no contact for {days} days)': '{n} 位待回访（{days} 天无联系）',
    'never in touch': '从未联系',
    'last in touch {when}': '最近联系 {when}',
    '{n} unanswered': '{n} 次未接',
    'Answered: well': '已接听：安好',
    'No answer': '无人接听',
    'Welfare check sent to the door.': '已派人上门探访。',
    'She has no phone on record.': '无登记电话。',
    'File a complaint': '登记投诉',
    Offered: '派单中',
    Accepted: '已接单',
    Open: '待处理',
    Acknowledged: '已确认',
    Unmatched: '无人接单',
    Scheduled: '已排期',
    Done: '已完成',
    Cancelled: '已取消',
    Against: '投诉对象',
    Category: '类别',
    File: '提交',
    'Service quality': '服务质量',
    'Nobody came': '未上门',
    'Staff conduct': '人员态度',
    'Billing': '收费',
    'Meals': '助餐',
    'Complaint filed against {name}: they must answer by {when}.': '已登记对 {name} 的投诉，须在 {when} 前答复。',
  });

  /** The server's codes as people read them (English; `t` translates). */
  const LABELS = {
    female: 'Female',
    male: 'Male',
    alone: 'Alone',
    with_spouse: 'With spouse',
    with_family: 'With family',
    other: 'Other',
    active: 'At home',
    in_hospital: 'In hospital',
    away: 'Away',
    respite: 'Respite stay',
    discharged: 'Discharged',
    deceased: 'Deceased',
    in: 'Home',
    out: 'Out',
    unsure: 'Unsure',
    service_request: 'Service ordered',
    alert: 'Call for help',
    information: 'Information',
    complaint: 'Complaint',
    wellbeing: 'Wellbeing call',
    no_answer: 'No answer',
    service_quality: 'Service quality',
    no_show: 'Nobody came',
    staff_conduct: 'Staff conduct',
    billing: 'Billing',
    meals: 'Meals',
    offered: 'Offered',
    accepted: 'Accepted',
    open: 'Open',
    acknowledged: 'Acknowledged',
    unmatched: 'Unmatched',
    scheduled: 'Scheduled',
    done: 'Done',
    cancelled: 'Cancelled',
  };
  const label = (code) => t(LABELS[code] || code);

  const { page, api, ending, showView, showError, signIn, resume } =
    window.eldercareCommon.sessionPage({ tokenKey: TOKEN_KEY, t, forget: () => { state.phone = null; } });

  /** A number as typed or passed (`+` may arrive as a space in a query
   * string): international form, a Chinese mobile given without +86. */
  function normalise(raw) {
    let digits = String(raw || '').trim().replace(/[\s\-().]/g, '');
    if (digits.startsWith('00')) digits = `+${digits.slice(2)}`;
    if (/^1\d{10}$/.test(digits)) digits = `+86${digits}`;
    if (/^\d{6,15}$/.test(digits)) digits = `+${digits}`;
    return /^\+\d{6,15}$/.test(digits) ? digits : null;
  }

  const when = (at) => I.dateTime(new Date(at), { dateStyle: 'medium', timeStyle: 'short' });

  async function lookup(raw) {
    showError('');
    const phone = normalise(raw);
    if (!phone) return showError(t('Give the number in international form, e.g. +8613800000000.'));
    state.phone = phone;
    $('[data-testid="phone"]').value = phone;
    try {
      const found = await api('GET', `/desk/lookup?phone=${encodeURIComponent(phone)}`);
      $('[data-testid="lookup-summary"]').textContent = t('{n} found for {phone}', { n: found.matches.length, phone });
      $('[data-testid="cards"]').replaceChildren(...found.matches.map((m) => card(m, phone)));
      $('[data-testid="unknown-caller"]').hidden = found.matches.length > 0;
    } catch (err) {
      showError(err.message);
    }
  }

  function dispositions(select, chosen) {
    select.replaceChildren(...['information', 'wellbeing', 'service_request', 'complaint', 'alert', 'no_answer']
      .map((d) => h('option', { value: d, selected: d === chosen }, label(d))));
    return select;
  }

  async function logCall(body, done) {
    showError('');
    try {
      const call = await api('POST', '/calls', body);
      if (done) done(call);
      return call;
    } catch (err) {
      showError(err.message);
      return null;
    }
  }

  function card(match, phone) {
    const r = match.resident;
    const status = h('p', { class: 'done', role: 'status', 'data-testid': 'card-status' });
    const who = match.matched === 'family' ? t('Family: {name}', { name: match.family_member.name }) : t('Her own phone');
    const rows = [
      [t('Age'), r.age ?? '—'],
      [t('Gender'), r.gender ? label(r.gender) : '—'],
      [t('Phone'), r.phone || '—'],
      [t('Address'), r.address || '—'],
      [t('Community'), r.division || '—'],
      [t('Lives'), r.household ? label(r.household) : '—'],
      [t('Status'), label(r.status || 'active')],
      [t('Now'), match.presence ? `${label(match.presence.presence)} · ${when(match.presence.since)}` : '—'],
    ];
    const list = (items, render) => (items.length ? h('ul', {}, ...items.map(render)) : h('p', { class: 'muted' }, t('None')));
    const note = h('input', { type: 'text', maxlength: '2000', 'data-testid': 'call-note', 'aria-label': t('What she says') });
    const confirm = h('div', { class: 'sos-confirm', 'data-testid': 'sos-confirm', hidden: true },
      h('p', {}, t('Raise an SOS for {name}? Her care team is alerted at once.', { name: r.name })),
      h('button', { type: 'button', class: 'sos', 'data-testid': 'confirm-sos',
        onclick: () => logCall({ phone, direction: 'in', resident_id: r.id, disposition: 'alert',
          note: note.value.trim() || undefined }, () => refresh(t('SOS raised: her care team has it.'))) },
      t('Yes, raise the SOS')),
      ' ',
      h('button', { type: 'button', onclick: () => { confirm.hidden = true; } }, t('Cancel')));
    const service = h('select', { 'data-testid': 'service', 'aria-label': t('Service') },
      ...match.services.map((s) => h('option', { value: s.code }, `${s.name} (${s.code})`)));
    const disposition = dispositions(h('select', { 'data-testid': 'disposition', 'aria-label': t('What the call was') }),
      match.matched === 'family' ? 'information' : 'wellbeing');
    async function refresh(message) {
      await lookup(phone);
      const again = document.querySelector(`[data-testid="elder-card"][data-resident-id="${r.id}"] [data-testid="card-status"]`);
      if (again) again.textContent = message;
      loadChecks();
    }
    async function order() {
      showError('');
      try {
        await api('POST', '/service-requests', { resident_id: r.id, service_code: service.value,
          note: note.value.trim() || undefined });
        await logCall({ phone, direction: 'in', resident_id: r.id, disposition: 'service_request',
          note: note.value.trim() || undefined });
        const name = service.selectedOptions[0] ? service.selectedOptions[0].textContent : service.value;
        refresh(t('Ordered: {service}, offered to providers now.', { service: name }));
      } catch (err) {
        showError(err.message);
      }
    }
    const against = h('select', { 'data-testid': 'complaint-against', 'aria-label': t('Against') },
      ...match.providers.map((p) => h('option', { value: p.institution_id }, p.institution_name)));
    const category = h('select', { 'data-testid': 'complaint-category', 'aria-label': t('Category') },
      ...['service_quality', 'no_show', 'staff_conduct', 'billing', 'meals', 'other']
        .map((c) => h('option', { value: c }, label(c))));
    async function complain() {
      showError('');
      const text = note.value.trim();
      if (!text) return showError(t('What she says'));
      try {
        const filed = await api('POST', '/complaints', { resident_id: r.id, institution_id: against.value,
          category: category.value, text });
        await logCall({ phone, direction: 'in', resident_id: r.id, disposition: 'complaint', note: text });
        refresh(t('Complaint filed against {name}: they must answer by {when}.',
          { name: filed.institution_name, when: when(filed.respond_by) }));
      } catch (err) {
        showError(err.message);
      }
    }
    return h('article', { class: 'elder', 'data-testid': 'elder-card', 'data-resident-id': r.id },
      h('h3', { 'data-testid': 'elder-name' }, r.name),
      h('p', { class: 'muted', 'data-testid': 'matched' }, who),
      h('dl', {}, ...rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))])),
      h('h4', {}, t('Open alerts')),
      h('div', { 'data-testid': 'open-alerts' }, list(match.open_alerts, (a) =>
        h('li', { class: 'alarm', 'data-testid': 'open-alert', 'data-alert-id': a.id },
          `${window.eldercareCommon.KIND_LABELS[a.kind] ? t(window.eldercareCommon.KIND_LABELS[a.kind]) : a.kind} · ${label(a.status)} · ${when(a.opened_at)}`))),
      h('h4', {}, t('Open requests')),
      h('div', { 'data-testid': 'open-requests' }, list(match.open_requests, (q) =>
        h('li', { 'data-testid': 'open-request', 'data-request-id': q.id },
          `${q.service_code} · ${label(q.status)}${q.provider ? ` · ${q.provider.institution_name}` : ''}${q.offer ? ` · ${q.offer.institution_name}` : ''}`))),
      h('h4', {}, t('Last calls')),
      h('div', { 'data-testid': 'last-calls' }, list(match.last_calls, (c) =>
        h('li', { 'data-testid': 'last-call' }, `${when(c.at)} · ${c.direction === 'in' ? t('Incoming') : t('Outgoing')} · ${label(c.disposition)}${c.note ? ` · ${c.note}` : ''}`))),
      h('div', { class: 'actions' },
        h('label', {}, t('What she says'), ' ', note),
        h('button', { type: 'button', class: 'sos', 'data-testid': 'raise-sos',
          onclick: () => { confirm.hidden = false; confirm.querySelector('[data-testid="confirm-sos"]').focus(); } },
        t('SOS: send help now'))),
      confirm,
      h('div', { class: 'actions' },
        match.services.length
          ? h('fieldset', {}, h('legend', {}, t('Order a service')), service,
            h('button', { type: 'button', 'data-testid': 'order', onclick: order }, t('Order')))
          : h('p', { class: 'muted' }, t('Nothing is offered where she lives.')),
        match.providers.length
          ? h('fieldset', {}, h('legend', {}, t('File a complaint')), against, category,
            h('button', { type: 'button', 'data-testid': 'complain', onclick: complain }, t('File')))
          : null,
        h('fieldset', {}, h('legend', {}, t('Log this call')), disposition,
          h('button', { type: 'button', 'data-testid': 'log-call',
            onclick: () => logCall({ phone, direction: disposition.value === 'no_answer' ? 'out' : 'in', resident_id: r.id,
              disposition: disposition.value, note: note.value.trim() || undefined }, () => refresh(t('Call logged.'))) },
          t('Log')))),
      status);
  }

  async function loadChecks() {
    try {
      const { days, elders } = await api('GET', '/desk/check-calls');
      $('[data-testid="checks-summary"]').textContent = t('{n} elders to call (no contact for {days} days)', { n: elders.length, days });
      $('[data-testid="check-calls"]').replaceChildren(...elders.map((e) => checkRow(e)));
    } catch (err) {
      showError(err.message);
    }
  }

  function checkRow(elder) {
    const status = h('p', { role: 'status', 'data-testid': 'check-status' });
    const outcome = (disposition) => async () => {
      if (!elder.phone) return showError(t('She has no phone on record.'));
      const call = await logCall({ phone: elder.phone, direction: 'out', resident_id: elder.resident_id, disposition });
      if (!call) return;
      await loadChecks();
      const row = document.querySelector(`[data-testid="check-call"][data-resident-id="${elder.resident_id}"] [data-testid="check-status"]`);
      const message = call.service_request_id ? t('Welfare check sent to the door.') : t('Call logged.');
      if (row) row.textContent = message;
      else $('[data-testid="checks-summary"]').textContent += ` ${message}`;
    };
    const contact = elder.last_contact_at ? t('last in touch {when}', { when: when(elder.last_contact_at) }) : t('never in touch');
    return h('li', { 'data-testid': 'check-call', 'data-resident-id': elder.resident_id },
      h('strong', {}, elder.name), ` · ${elder.phone || '—'} · ${elder.age ?? '—'}`,
      h('p', { class: 'muted' }, contact, elder.unanswered ? ` · ${t('{n} unanswered', { n: elder.unanswered })}` : ''),
      h('div', { class: 'buttons' },
        h('button', { type: 'button', 'data-testid': 'check-well', onclick: outcome('wellbeing') }, t('Answered: well')),
        h('button', { type: 'button', 'data-testid': 'check-no-answer', onclick: outcome('no_answer') }, t('No answer'))),
      status);
  }

  const followUps = followUpCalls({ api, showError });

  function start() {
    showError('');
    showView('app');
    I.apply();
    loadChecks();
    followUps.load();
    const caller = new URLSearchParams(location.search).get('caller');
    if (caller) lookup(caller);
    else $('[data-testid="phone"]').focus();
  }

  async function init() {
    I.picker($('[data-testid="language"]'));
    I.apply();
    I.onChange(() => {
      if (state.phone) lookup(state.phone);
      if (page.user) {
        loadChecks();
        followUps.load();
      }
    });
    $('[data-testid="login-form"]').addEventListener('submit', (event) => signIn(event, start));
    $('[data-testid="logout"]').addEventListener('click', () => ending.logout());
    $('[data-testid="lookup-form"]').addEventListener('submit', (event) => {
      event.preventDefault();
      lookup($('[data-testid="phone"]').value);
    });
    $('[data-testid="checks-refresh"]').addEventListener('click', loadChecks);
    dispositions($('[data-testid="unknown-disposition"]'), 'information');
    $('[data-testid="unknown-caller"]').addEventListener('submit', (event) => {
      event.preventDefault();
      const note = $('[data-testid="unknown-note"]').value.trim();
      logCall({ phone: state.phone, direction: 'in', disposition: $('[data-testid="unknown-disposition"]').value,
        note: note || undefined }, () => { $('[data-testid="lookup-summary"]').textContent = t('Call logged.'); });
    });
    resume(start);
  }

  init();
})();
