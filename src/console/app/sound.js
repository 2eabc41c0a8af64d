// The alarm sound for critical alerts, and its reminder while unacknowledged.

import { $, REMINDER_MS, SOUND_KEY, state, t } from './base.js';

export function primeAudio() {
  if (!state.audio.wanted) return;
  try {
    if (!state.audio.ctx) state.audio.ctx = new AudioContext();
    if (state.audio.ctx.state === 'suspended') state.audio.ctx.resume().then(refreshSoundButton, refreshSoundButton);
  } catch {
    // No audio device: the visual cue still works.
  }
  refreshSoundButton();
}

export function toggleSound() {
  state.audio.wanted = !state.audio.wanted;
  localStorage.setItem(SOUND_KEY, state.audio.wanted ? 'on' : 'off');
  primeAudio();
  refreshSoundButton();
  if (state.audio.wanted) beep(true);
}

export function refreshSoundButton() {
  const button = $('[data-testid="sound-toggle"]');
  const running = state.audio.ctx && state.audio.ctx.state === 'running';
  button.setAttribute('aria-pressed', String(state.audio.wanted));
  button.dataset.state = !state.audio.wanted ? 'off' : running ? 'on' : 'blocked';
  button.textContent = t(!state.audio.wanted ? 'Sound off' : running ? 'Sound on' : 'Sound blocked: click to allow');
}

/** Three short tones, made here: no sound file to fetch. */
export function beep(force) {
  const ctx = state.audio.ctx;
  if (!state.audio.wanted || !ctx || ctx.state !== 'running') return;
  const now = Date.now();
  if (!force && now - state.audio.lastBeep < 1500) return;
  state.audio.lastBeep = now;
  const t0 = ctx.currentTime + 0.02;
  [880, 660, 880].forEach((freq, i) => {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = 'square';
    osc.frequency.value = freq;
    const start = t0 + i * 0.22;
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(0.25, start + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.18);
    osc.connect(gain).connect(ctx.destination);
    osc.start(start);
    osc.stop(start + 0.2);
  });
}

export function remind() {
  const waiting = [...state.alerts.values()].some((a) => a.severity === 'critical' && a.status === 'open');
  if (waiting && Date.now() - state.audio.lastBeep >= REMINDER_MS) beep();
}
