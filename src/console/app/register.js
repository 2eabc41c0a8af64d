// Registering an elder from the registry view (admin and staff): one record
// per elder on the platform. An id number registered already is answered
// with the elder's id, and the admin enrols her with the institution
// instead, for its services and on the consent given; staff are told that
// an admin does it.

import { $, h, state, t } from './base.js';
import { announce, api } from './session.js';
import { ECONOMIC_LABELS, HOUSEHOLD_LABELS, SERVICE_LABELS, redrawRegistry } from './registry.js';
import { openResidentPanel } from './resident.js';

const CONSENT_BY = { resident: 'The elder', family: 'Family', guardian: 'Guardian' };
const CONSENT_METHOD = { written: 'Written', verbal: 'Verbal', electronic: 'Electronic' };

const mayRegister = () =>
  state.user && state.user.session_kind !== 'display' && (state.user.role === 'admin' || state.user.role === 'staff');

/** Shows the form to those who may register (and empties it otherwise). */
export function setupRegister() {
  const box = $('[data-testid="register"]');
  box.hidden = !mayRegister();
  box.open = false;
  const body = $('.register-body', box);
  body.replaceChildren(...(mayRegister() ? [registerForm(body)] : []));
}

const row = (id, title, control) => h('div', { class: 'form-row' }, h('label', { for: id }, title), control);

function select(id, labels, empty) {
  return h(
    'select',
    { id, 'data-testid': id },
    empty ? h('option', { value: '' }, empty) : null,
    Object.entries(labels).map(([value, text]) => h('option', { value }, text)),
  );
}

function servicesField(prefix) {
  return h(
    'fieldset',
    { class: 'services', 'data-testid': `${prefix}-services` },
    h('legend', {}, 'Services'),
    Object.entries(SERVICE_LABELS).map(([value, text]) =>
      h('label', { class: 'check' }, h('input', { type: 'checkbox', name: `${prefix}-service`, value, checked: true }), ` ${t(text)}`),
    ),
  );
}

const checkedServices = (form, prefix) => [...form.querySelectorAll(`input[name="${prefix}-service"]:checked`)].map((i) => i.value);

/** The form's body as the API takes it: what is empty is left out. */
function registration(form) {
  const value = (id) => $(`#${id}`, form).value.trim();
  const body = { name: value('register-name'), services: checkedServices(form, 'register') };
  for (const [id, key] of [
    ['register-id-number', 'id_number'],
    ['register-phone', 'phone'],
    ['register-division', 'division'],
    ['register-household', 'household'],
    ['register-economic', 'economic_status'],
  ]) {
    if (value(id)) body[key] = value(id);
  }
  return body;
}

function registerForm(body) {
  const error = h('p', { class: 'inline-error', role: 'alert', hidden: true, 'data-testid': 'register-error' });
  const fail = (text) => {
    error.textContent = text;
    error.hidden = false;
  };
  const form = h(
    'form',
    {
      class: 'card-form',
      'data-testid': 'register-form',
      novalidate: true,
      onsubmit: async (e) => {
        e.preventDefault();
        error.hidden = true;
        const req = registration(form);
        if (!req.name) return fail(t('Enter the elder’s name.'));
        if (req.services.length === 0) return fail(t('Choose at least one service.'));
        const button = $('button[type="submit"]', form);
        button.disabled = true;
        try {
          const made = await api('POST', '/residents', req);
          state.residents.set(made.id, made);
          announce(t('{name} registered.', { name: made.name }));
          body.replaceChildren(registerForm(body));
          $('[data-testid="register"]').open = false;
          redrawRegistry();
          openResidentPanel(made.id, $('[data-testid="register"] summary'));
        } catch (err) {
          if (err.status === 409 && err.code === 'already_registered' && err.details.resident_id) {
            body.replaceChildren(alreadyRegistered(body, err.details.resident_id, req));
            return;
          }
          if (err.status !== 401) fail(`${err.message} (${err.code || 'error'})`);
        } finally {
          button.disabled = false;
        }
      },
    },
    row('register-name', 'Name', h('input', { id: 'register-name', 'data-testid': 'register-name', maxlength: 200, autocomplete: 'off', required: true })),
    row('register-id-number', 'ID number', h('input', { id: 'register-id-number', 'data-testid': 'register-id-number', maxlength: 18, autocomplete: 'off', spellcheck: 'false' })),
    row('register-phone', 'Phone', h('input', { id: 'register-phone', 'data-testid': 'register-phone', type: 'tel', maxlength: 20, autocomplete: 'off' })),
    row('register-division', 'Division code (community or grid)', h('input', { id: 'register-division', 'data-testid': 'register-division', inputmode: 'numeric', maxlength: 15, autocomplete: 'off' })),
    row('register-household', 'Household', select('register-household', HOUSEHOLD_LABELS, t('Not given'))),
    row('register-economic', 'Economic status', select('register-economic', ECONOMIC_LABELS, t('Not given'))),
    servicesField('register'),
    error,
    h('button', { type: 'submit', class: 'primary', 'data-testid': 'register-submit' }, 'Register'),
  );
  return form;
}

/** The id number is on the registry: enrol her (admin), or say who can. */
function alreadyRegistered(body, residentId, req) {
  const again = h('button', { type: 'button', class: 'ghost', 'data-testid': 'register-again', onclick: () => body.replaceChildren(registerForm(body)) }, 'Register someone else');
  const intro = h(
    'p',
    { role: 'alert', 'data-testid': 'register-exists' },
    t('This id number is on the registry already: {name} is one elder for every provider.', { name: req.name }),
  );
  if (state.user.role !== 'admin') {
    return h('div', { class: 'card-form' }, intro, h('p', { 'data-testid': 'register-ask-admin' }, t('An admin of your institution enrols her: ask them to register the same id number.')), again);
  }
  const error = h('p', { class: 'inline-error', role: 'alert', hidden: true, 'data-testid': 'enrol-error' });
  const form = h(
    'form',
    {
      class: 'card-form',
      'data-testid': 'enrol-form',
      novalidate: true,
      onsubmit: async (e) => {
        e.preventDefault();
        error.hidden = true;
        const services = checkedServices(form, 'enrol');
        if (services.length === 0) {
          error.textContent = t('Choose at least one service.');
          error.hidden = false;
          return;
        }
        const button = $('button[type="submit"]', form);
        button.disabled = true;
        const consent = { by: $('#enrol-consent-by', form).value, method: $('#enrol-consent-method', form).value, at: new Date().toISOString() };
        try {
          await api('POST', `/residents/${encodeURIComponent(residentId)}/enrolments`, { services, consent });
          announce(t('Enrolled with your institution.'));
          body.replaceChildren(registerForm(body));
          $('[data-testid="register"]').open = false;
          redrawRegistry();
          openResidentPanel(residentId, $('[data-testid="register"] summary'));
        } catch (err) {
          if (err.status !== 401) {
            error.textContent = `${err.message} (${err.code || 'error'})`;
            error.hidden = false;
          }
        } finally {
          button.disabled = false;
        }
      },
    },
    intro,
    h('p', { class: 'muted' }, t('Enrol her with your institution for the services you provide, on the consent she or her family gave. Your institution then reaches what those services need, and nothing else.')),
    servicesField('enrol'),
    row('enrol-consent-by', 'Consent given by', select('enrol-consent-by', CONSENT_BY)),
    row('enrol-consent-method', 'Consent recorded', select('enrol-consent-method', CONSENT_METHOD)),
    error,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', 'data-testid': 'enrol-submit' }, 'Enrol'), again),
  );
  return form;
}
