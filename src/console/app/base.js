// The alert console's names, state and small helpers, which its modules share.

// English and Chinese: every text the page builds goes through `t`.
export const I18N = window.eldercareI18n;
export const t = I18N.t;
export const TOKEN_KEY = 'eldercare.console.token';
export const SOUND_KEY = 'eldercare.console.sound';
// While a critical alert is still unacknowledged the beep comes back.
export const REMINDER_MS = 60_000;

export const SEVERITY_RANK = { critical: 0, high: 1, medium: 2, low: 3 };
export const { KIND_LABELS } = window.eldercareCommon;
export const STATUS_LABELS = { open: 'Open', acknowledged: 'Acknowledged', resolved: 'Resolved' };
export const RESOLUTIONS = [
  ['handled', 'Handled'],
  ['false_alarm', 'False alarm'],
  ['cancelled_by_resident', 'Cancelled by resident'],
];
export const RESOLUTION_LABELS = Object.fromEntries([...RESOLUTIONS, ['auto_cleared', 'Cleared automatically']]);
export const METRIC_LABELS = {
  heart_rate: 'Heart rate',
  respiratory_rate: 'Breathing rate',
  spo2: 'SpO₂',
  body_temperature: 'Temperature',
  bp_systolic: 'Blood pressure (systolic)',
  bp_diastolic: 'Blood pressure (diastolic)',
  blood_glucose: 'Blood glucose',
};
export const UNIT_LABELS = { Cel: '°C', 'mm[Hg]': 'mmHg', '/min': '/min', '%': '%' };
export const EVENT_LABELS = {
  fall_detected: 'Fall detected',
  fall_cancelled: 'Fall cancelled',
  sos_pressed: 'SOS pressed',
  motion: 'Movement',
  door_opened: 'Door opened',
  door_closed: 'Door closed',
  bed_exit: 'Got out of bed',
  bed_enter: 'Went to bed',
  appliance_on: 'Appliance on',
  appliance_off: 'Appliance off',
  meal_served: 'Meal served',
  meal_eaten: 'Meal eaten',
  medication_taken: 'Medication taken',
  water_leak: 'Water leak',
  smoke_detected: 'Smoke detected',
  gas_detected: 'Gas detected',
};
export const TIMELINE_LABELS = {
  opened: 'Opened',
  repeated: 'Happened again',
  severity_raised: 'Severity raised',
  escalated: 'Escalated',
  notified: 'Notified',
  acknowledged: 'Acknowledged',
  assigned: 'Assigned',
  commented: 'Comment',
  resolved: 'Resolved',
  'visit.dispatched': 'Carer dispatched',
  'visit.checked_in': 'Carer at the door',
  'visit.checked_out': 'Carer left',
};

export const state = {
  token: null,
  user: null,
  /** Active alerts by id (resolved ones leave). */
  alerts: new Map(),
  /** The list's row elements by alert id, kept so focus survives updates. */
  rows: new Map(),
  /** While the list loads, changes from the stream are kept here too, so
   * the load cannot overwrite something newer. */
  pending: null,
  loadToken: null,
  residents: new Map(),
  residentsAsked: 0,
  /** Names of people by user id, for assignees and timelines. */
  names: new Map(),
  /** Admins see the institution's care staff to assign to. */
  staff: [],
  panel: { kind: null, id: null, opener: null, generation: 0 },
  /** The view shown: alerts, registry or divisions. */
  view: null,
  audio: { ctx: null, wanted: localStorage.getItem(SOUND_KEY) === 'on', lastBeep: 0 },
};

// ---------------------------------------------------------------- helpers

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

/** Builds an element; text always goes in as text, never as markup. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  for (const c of children.flat()) {
    if (c != null && c !== false) el.append(c instanceof Node ? c : t(String(c)));
  }
  return el;
}

export function svg(tag, attrs, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  setAttrs(el, attrs);
  for (const c of children.flat()) {
    if (c != null && c !== false) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

export const humanize = (s) => (s ? String(s).replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase()) : '');
export const kindLabel = (k) => t(KIND_LABELS[k] || humanize(k));
export const deviceKindLabel = (k) => (k === 'sos_button' ? 'SOS button' : humanize(k));
export const unitLabel = (u) => UNIT_LABELS[u] ?? u ?? '';
export const num = (v, digits = 0) =>
  typeof v === 'number' && Number.isFinite(v)
    ? I18N.number(v, { maximumFractionDigits: digits })
    : '?';
export const time = (iso) => Date.parse(iso);
// A wall screen's display token reads only: it acts on nothing.
export const isStaff = () =>
  state.user && state.user.session_kind !== 'display' && (state.user.role === 'admin' || state.user.role === 'staff');

export function fmtClock(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(total / 86400);
  const hh = Math.floor((total % 86400) / 3600);
  const mm = String(Math.floor((total % 3600) / 60)).padStart(2, '0');
  const ss = String(total % 60).padStart(2, '0');
  if (d > 0) return `${d} d ${hh}:${mm}:${ss}`;
  return hh > 0 ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
}

export function fmtSpoken(ms) {
  const mins = Math.floor(Math.max(0, ms) / 60000);
  if (mins < 1) return 'less than a minute';
  if (mins < 60) return `${mins} minute${mins === 1 ? '' : 's'}`;
  const hours = Math.floor(mins / 60);
  return `${hours} hour${hours === 1 ? '' : 's'} ${mins % 60} minutes`;
}

/** A time of day, with the date when it is not today. */
export function fmtWhen(iso, timeZone) {
  if (!iso) return '—';
  const d = new Date(iso);
  const opts = { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
  if (timeZone) opts.timeZone = timeZone;
  const lang = I18N.lang();
  const day = (x) => x.toLocaleDateString(lang, timeZone ? { timeZone } : {});
  const at = d.toLocaleTimeString(lang, opts);
  return day(d) === day(new Date()) ? at : `${d.toLocaleDateString(lang, { day: 'numeric', month: 'short', ...(timeZone ? { timeZone } : {}) })} ${at}`;
}

/** `HH:MM` out of a local RFC 3339 time such as `2026-11-28T11:00:00+08:00`. */
export const localHm = (s) => (typeof s === 'string' && s.length >= 16 ? s.slice(11, 16) : null);

export function nameOf(userId) {
  if (!userId) return null;
  if (state.user && userId === state.user.id) return `${state.user.name || 'Me'} (me)`;
  return state.names.get(userId) || 'another carer';
}

export function residentRoom(residentId) {
  const r = residentId && state.residents.get(residentId);
  return r && r.room ? `Room ${r.room}` : null;
}

/** One line on what happened, from the alert's details. */
export function summary(alert) {
  const d = alert.details || {};
  const room = d.room ? humanize(d.room) : null;
  const parts = [];
  switch (alert.kind) {
    case 'fall':
    case 'sos':
    case 'smoke':
    case 'gas':
    case 'water_leak':
      if (room) parts.push(room);
      if (d.device_kind) parts.push(deviceKindLabel(d.device_kind));
      if (alert.kind === 'fall' && typeof d.confidence === 'number') parts.push(`confidence ${Math.round(d.confidence * 100)} %`);
      break;
    case 'vital_abnormal': {
      const label = METRIC_LABELS[d.metric] || humanize(d.metric);
      const unit = unitLabel(d.unit);
      parts.push(`${label} ${num(d.value, 1)} ${unit}`.trim());
      if (typeof d.threshold === 'number') parts.push(`limit ${num(d.threshold, 1)} ${unit}`.trim());
      if (typeof d.window_minutes === 'number') parts.push(`for ${num(d.window_minutes)} min`);
      break;
    }
    case 'missed_meal': {
      const from = localHm(d.local_start);
      const to = localHm(d.local_end);
      parts.push(`${humanize(d.meal || 'meal')} not taken${from && to ? ` (${from}–${to})` : ''}`);
      break;
    }
    case 'inactivity':
      parts.push(`No activity for ${num(d.hours, 1)} h`);
      if (d.last_activity) parts.push(`last ${fmtWhen(d.last_activity)}${d.last_activity_room ? ` in ${humanize(d.last_activity_room).toLowerCase()}` : ''}`);
      break;
    case 'no_morning_activity':
      parts.push(`Nothing by ${localHm(d.local_deadline) || fmtWhen(d.deadline)}`);
      break;
    case 'night_wandering':
      parts.push(`${room ? `${room} door` : 'Door'} opened at ${localHm(d.local_time) || fmtWhen(d.door_opened_at)}`);
      if (d.return_minutes != null) parts.push(`not back within ${num(d.return_minutes)} min`);
      break;
    case 'bed_exit_no_return':
      parts.push(`Left bed at ${localHm(d.local_time) || fmtWhen(d.bed_exit_at)}`);
      if (d.minutes != null) parts.push(`not back within ${num(d.minutes)} min`);
      break;
    case 'not_returned':
      parts.push(`Went out at ${localHm(d.local_out_since) || fmtWhen(d.out_since)}`);
      if (d.local_return_by) parts.push(`not back by ${localHm(d.local_return_by)}`);
      break;
    case 'presence_check':
      parts.push(`Front door closed at ${localHm(d.local_door_closed) || fmtWhen(d.door_closed_at)}, nothing since`);
      parts.push('not a time she usually goes out');
      break;
    case 'device_offline':
      parts.push(`${deviceKindLabel(d.device_kind || 'device')} ${d.device_id || alert.device_id || ''} not reporting`.trim());
      break;
    case 'low_battery':
      parts.push(`${deviceKindLabel(d.device_kind || 'device')} ${d.device_id || alert.device_id || ''}`.trim());
      parts.push(`battery ${num(d.battery)} %`);
      break;
    case 'ingest_stalled':
    case 'ingest_failing':
    case 'scheduler_stalled':
      parts.push(`since ${fmtWhen(d.since)}`);
      if (d.note) parts.push(d.note);
      break;
    case 'institution_silent':
      parts.push(`last data ${fmtWhen(d.last_data_at)}`);
      break;
    case 'identity_revoked':
      parts.push(`${d.account_kind || 'device'} ${d.username || ''}`.trim());
      if (d.note) parts.push(d.note);
      break;
    default:
      if (room) parts.push(room);
  }
  if (alert.occurrences > 1) parts.push(`${alert.occurrences} times`);
  if (alert.late) parts.push('reported late');
  return parts.join(' · ');
}
