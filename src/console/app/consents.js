// Medical partners on the resident panel: the family doctor named on her,
// her consents to hospitals and family doctor teams (what each grants, its
// period, who gave it and how, whether it is in force), withdrawing one,
// and for her provider's admin (or the bureau) a form to record a new one.
// Staff name the family doctor among the teams she consented to.

import { I18N, h, state, t } from './base.js';
import { announce, api } from './session.js';
import { inlineError, section } from './panel.js';

I18N.add('zh-CN', {
  'Medical partners': '医疗合作机构',
  'Family doctor': '家庭医生',
  'No family doctor named.': '尚未指定家庭医生。',
  'No consent to a medical partner.': '尚未授权任何医疗合作机构。',
  'Read her record': '查阅健康档案',
  'Be told of abnormal vital signs': '接收生命体征异常告警',
  'Send discharge records': '写入出院记录',
  'In force': '生效中',
  'Not in force': '未生效',
  Withdrawn: '已撤回',
  Withdraw: '撤回',
  'Withdraw this consent now? The partner reaches nothing of her through it from now on.':
    '现在撤回此授权？此后该机构将无法通过它访问她的任何信息。',
  'Withdraw it now': '立即撤回',
  'Keep it': '保留',
  'Consent withdrawn.': '授权已撤回。',
  'Consent recorded.': '授权已记录。',
  'Record a consent': '记录授权',
  Partner: '合作机构',
  'What it grants': '授权内容',
  From: '开始',
  'Until (optional)': '截止（可选）',
  'Given by': '授权人',
  'How it was given': '授权方式',
  Written: '书面',
  Verbal: '口头',
  Electronic: '电子',
  Record: '记录',
  'Name the family doctor': '指定家庭医生',
  Team: '团队',
  "Doctor's name": '医生姓名',
  Phone: '电话',
  Save: '保存',
  'Family doctor named.': '家庭医生已指定。',
  'given by {by}, {method}': '授权人：{by}，{method}',
  '{from} to {until}': '{from} 至 {until}',
  'Since {from}': '自 {from} 起',
  Hospital: '医院',
  'Family doctor team': '家庭医生团队',
});

const KINDS = { hospital: 'Hospital', family_doctor_team: 'Family doctor team' };
const kindLabel = (kind) => t(KINDS[kind] || kind);

const GRANTS = [
  ['fhir_read', 'Read her record'],
  ['alerts', 'Be told of abnormal vital signs'],
  ['clinical_write', 'Send discharge records'],
];
const METHODS = [
  ['written', 'Written'],
  ['verbal', 'Verbal'],
  ['electronic', 'Electronic'],
];
const day = (iso) => (iso ? I18N.dateTime(new Date(iso), { year: 'numeric', month: 'short', day: 'numeric' }) : '—');
const grantLabel = (g) => t((GRANTS.find(([code]) => code === g) || [g, g])[1]);
const mayRecord = () => state.user && (state.user.role === 'admin' || state.user.role === 'civil_affairs');
const mayNameDoctor = () => state.user && (state.user.role === 'admin' || state.user.role === 'staff');

/** The section, filled once the consents are read. */
export function consentsSection(residentId, live) {
  const el = section('Medical partners', 'resident-partners', h('p', { class: 'muted' }, 'Loading…'));
  const fill = (...content) => {
    if (live()) el.replaceChildren(el.firstChild, ...content);
  };
  const load = async () => {
    try {
      const [res, partners] = await Promise.all([
        api('GET', `/residents/${encodeURIComponent(residentId)}/consents`),
        mayRecord() || mayNameDoctor() ? api('GET', '/partners').then((p) => p.partners || []) : Promise.resolve([]),
      ]);
      fill(...view(residentId, res, partners, load, live));
    } catch (err) {
      if (err.status === 403 || err.status === 404) fill(h('p', { class: 'muted' }, 'Not shown to you.'));
      else if (err.status !== 401) fill(inlineError(err));
    }
  };
  load();
  return el;
}

function view(residentId, res, partners, reload, live) {
  const consents = res.consents || [];
  const doctor = res.family_doctor;
  const out = [
    h(
      'p',
      { 'data-testid': 'family-doctor' },
      h('strong', {}, 'Family doctor'),
      ': ',
      doctor ? `${doctor.name} · ${doctor.institution_name} · ${doctor.phone}` : t('No family doctor named.'),
    ),
    consents.length
      ? h('ul', { class: 'enrolments', 'data-testid': 'consent-list' }, consents.map((c) => consentItem(c, reload, live)))
      : h('p', { class: 'muted', 'data-testid': 'no-consents' }, 'No consent to a medical partner.'),
  ];
  if (mayRecord()) out.push(consentForm(residentId, partners, reload, live));
  const teams = partners.filter((p) => p.kind === 'family_doctor_team' && consents.some((c) => c.active && c.grantee_institution_id === p.id));
  if (mayNameDoctor() && teams.length) out.push(doctorForm(residentId, teams, doctor, reload, live));
  return out;
}

function consentItem(c, reload, live) {
  const status = c.withdrawn_at ? 'Withdrawn' : c.active ? 'In force' : 'Not in force';
  return h(
    'li',
    { class: `enrolment ${c.active ? 'active' : 'ended'}`, 'data-testid': 'consent', 'data-consent-id': c.id, 'data-active': String(c.active) },
    h(
      'div',
      { class: 'enrolment-head' },
      h('strong', {}, `${c.grantee_name} (${kindLabel(c.grantee_kind)})`),
      h('span', { class: `pill ${c.active ? 'ok' : 'unknown'}`, 'data-testid': 'consent-state' }, status),
    ),
    h('p', { 'data-testid': 'consent-grants' }, c.scope.map(grantLabel).join(' · ')),
    h(
      'p',
      { class: 'muted' },
      c.until ? t('{from} to {until}', { from: day(c.from), until: day(c.until) }) : t('Since {from}', { from: day(c.from) }),
      ' · ',
      t('given by {by}, {method}', { by: c.recorded_by, method: t((METHODS.find(([m]) => m === c.recorded_method) || [0, c.recorded_method])[1]) }),
    ),
    c.withdrawn_at || !mayRecord() ? null : withdrawControl(c, reload, live),
  );
}

/** "Withdraw", asking first, in place. */
function withdrawControl(c, reload, live) {
  const wrap = h('div', { class: 'enrolment-end' });
  const idle = () => wrap.replaceChildren(h('button', { type: 'button', class: 'ghost', 'data-testid': 'consent-withdraw', onclick: ask }, 'Withdraw'));
  function ask() {
    const yes = h('button', { type: 'button', class: 'primary', 'data-testid': 'consent-withdraw-confirm' }, 'Withdraw it now');
    const no = h('button', { type: 'button', class: 'ghost', onclick: idle }, 'Keep it');
    yes.addEventListener('click', async () => {
      yes.disabled = true;
      no.disabled = true;
      try {
        await api('DELETE', `/consents/${encodeURIComponent(c.id)}`);
        if (!live()) return;
        announce(t('Consent withdrawn.'));
        reload();
      } catch (err) {
        wrap.replaceChildren(inlineError(err));
      }
    });
    wrap.replaceChildren(h('p', {}, 'Withdraw this consent now? The partner reaches nothing of her through it from now on.'), yes, no);
    yes.focus();
  }
  idle();
  return wrap;
}

function field(label, control) {
  return h('label', { class: 'field' }, h('span', {}, label), control);
}

function consentForm(residentId, partners, reload, live) {
  const partner = h('select', { name: 'partner', 'data-testid': 'consent-partner', required: true }, partners.map((p) => h('option', { value: p.id }, `${p.name} (${kindLabel(p.kind)})`)));
  const grants = GRANTS.map(([code, label]) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'grant', value: code, 'data-testid': `consent-grant-${code}` }), ' ', label));
  const until = h('input', { type: 'date', name: 'until', 'data-testid': 'consent-until' });
  const by = h('input', { type: 'text', name: 'by', maxlength: 200, required: true, 'data-testid': 'consent-by' });
  const method = h('select', { name: 'method', 'data-testid': 'consent-method' }, METHODS.map(([code, label]) => h('option', { value: code }, label)));
  const error = h('div', { 'aria-live': 'polite' });
  const form = h(
    'form',
    { class: 'stacked', 'data-testid': 'consent-form' },
    h('h4', {}, 'Record a consent'),
    field('Partner', partner),
    h('fieldset', {}, h('legend', {}, 'What it grants'), ...grants),
    field('Until (optional)', until),
    field('Given by', by),
    field('How it was given', method),
    h('button', { type: 'submit', class: 'primary', 'data-testid': 'consent-submit' }, 'Record'),
    error,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = {
      grantee_institution_id: partner.value,
      scope: grants.map((g) => g.querySelector('input')).filter((i) => i.checked).map((i) => i.value),
      recorded: { by: by.value.trim(), method: method.value },
    };
    if (until.value) body.until = new Date(`${until.value}T23:59:59`).toISOString();
    try {
      await api('POST', `/residents/${encodeURIComponent(residentId)}/consents`, body);
      if (!live()) return;
      announce(t('Consent recorded.'));
      reload();
    } catch (err) {
      error.replaceChildren(inlineError(err));
    }
  });
  return form;
}

function doctorForm(residentId, teams, doctor, reload, live) {
  const team = h('select', { name: 'team', 'data-testid': 'doctor-team' }, teams.map((p) => h('option', { value: p.id, selected: doctor && doctor.institution_id === p.id }, p.name)));
  const name = h('input', { type: 'text', name: 'name', maxlength: 200, required: true, value: doctor ? doctor.name : '', 'data-testid': 'doctor-name' });
  const phone = h('input', { type: 'tel', name: 'phone', required: true, placeholder: '+86…', value: doctor ? doctor.phone : '', 'data-testid': 'doctor-phone' });
  const error = h('div', { 'aria-live': 'polite' });
  const form = h(
    'form',
    { class: 'stacked', 'data-testid': 'doctor-form' },
    h('h4', {}, 'Name the family doctor'),
    field('Team', team),
    field("Doctor's name", name),
    field('Phone', phone),
    h('button', { type: 'submit', class: 'primary', 'data-testid': 'doctor-submit' }, 'Save'),
    error,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await api('PUT', `/residents/${encodeURIComponent(residentId)}/family-doctor`, { institution_id: team.value, name: name.value.trim(), phone: phone.value.trim() });
      if (!live()) return;
      announce(t('Family doctor named.'));
      reload();
    } catch (err) {
      error.replaceChildren(inlineError(err));
    }
  });
  return form;
}
