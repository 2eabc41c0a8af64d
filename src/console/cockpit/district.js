// The district view of the cockpit, for the civil-affairs bureau and
// supervisors: a map of the divisions the caller's division is made of,
// each coloured by the measure chosen, and the table of their figures.
// The map is drawn here from the divisions' GeoJSON boundaries, projected
// onto the SVG box by this code: no map library, no tiles, nothing fetched
// from elsewhere. A division on the map or in the table opens its own view
// (down to a community's grids), a breadcrumb leads back up; what the
// caller may open is the API's to say.

import { s } from './svg.js';

const I = window.eldercareI18n;
const t = I.t;
const { h } = window.eldercareCommon;

const W = 640;
const H = 420;
const PAD = 12;

/** Five classes, darkest for the least: readable on the dark page, each
 * step apart in lightness, not only in hue. */
const CLASSES = ['#1b3a5c', '#1f5c8f', '#2f7fc1', '#5fa8e8', '#a8d4ff'];
const NO_DATA = '#30363d';

/** What the map may be coloured by: a label and how a division's value
 * is read (null: no value). */
const MEASURES = {
  elders: { label: 'Elders', value: (c) => c.elders },
  living_alone: { label: 'Living alone', value: (c) => c.living_alone },
  unmet: { label: 'Unmet requests', value: (c) => c.requests.unmet },
  caregivers: { label: 'Caregivers per 1,000 elders', value: (c) => c.caregivers_per_1000_elders },
  complaints: { label: 'Complaints open or overdue', value: (c) => c.complaints.open + c.complaints.overdue },
};

/** Every ring of a GeoJSON Polygon or MultiPolygon, as [lon, lat] lists. */
function rings(boundary) {
  if (!boundary) return [];
  if (boundary.type === 'Polygon') return boundary.coordinates;
  if (boundary.type === 'MultiPolygon') return boundary.coordinates.flat();
  return [];
}

/**
 * A projection of the boundaries onto the box: equirectangular around their
 * middle latitude (a district is small enough that this is true to the
 * eye), scaled to fit with its proportions kept, north up.
 */
function projection(boundaries) {
  let [minLon, minLat, maxLon, maxLat] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const ring of boundaries.flatMap(rings)) {
    for (const [lon, lat] of ring) {
      minLon = Math.min(minLon, lon);
      maxLon = Math.max(maxLon, lon);
      minLat = Math.min(minLat, lat);
      maxLat = Math.max(maxLat, lat);
    }
  }
  const squash = Math.cos((((minLat + maxLat) / 2) * Math.PI) / 180);
  const spanX = Math.max((maxLon - minLon) * squash, 1e-9);
  const spanY = Math.max(maxLat - minLat, 1e-9);
  const scale = Math.min((W - 2 * PAD) / spanX, (H - 2 * PAD) / spanY);
  const offX = (W - spanX * scale) / 2;
  const offY = (H - spanY * scale) / 2;
  return ([lon, lat]) => [offX + (lon - minLon) * squash * scale, offY + (maxLat - lat) * scale];
}

function pathOf(boundary, project) {
  return rings(boundary)
    .map((ring) => `M${ring.map((p) => project(p).map((v) => v.toFixed(1)).join(',')).join('L')}Z`)
    .join('');
}

/** The class of each value: equal steps from the least to the most. */
function classify(values) {
  const known = values.filter((v) => v !== null && v !== undefined);
  const min = Math.min(...known);
  const max = Math.max(...known);
  const step = (max - min) / CLASSES.length;
  const classOf = (v) => {
    if (v === null || v === undefined) return null;
    if (step === 0) return 0;
    return Math.min(CLASSES.length - 1, Math.floor((v - min) / step));
  };
  const bounds = CLASSES.map((_, i) => [min + i * step, i === CLASSES.length - 1 ? max : min + (i + 1) * step]);
  return { classOf, bounds: step === 0 ? [[min, max]] : bounds };
}

const number = (v, digits = 0) => (v === null || v === undefined ? '—' : I.number(v, { maximumFractionDigits: digits }));

/** A grid is the smallest division: nothing under it to open. */
const opens = (division) => division.level !== 'grid';

export function districtView({ api, root, onError }) {
  const view = {
    data: null,
    measure: 'elders',
    /** The divisions opened, from the caller's own down to the one shown,
     * as `{code, name}`; empty until the first is read. */
    trail: [],
    /** The trail last asked for: a refresh while a step is on its way
     * reads where the step goes, not where it came from. */
    wanted: [],
    /** Reads asked so far: only the latest one's answer is shown. */
    reads: 0,
  };

  /** Reads the division shown again (the caller's own at first). */
  function load() {
    return show(view.wanted);
  }

  /** Reads and shows the division at the end of `trail`; answers whether
   * it is shown. */
  async function show(trail) {
    const read = ++view.reads;
    view.wanted = trail;
    // The caller's own division is asked for by no code: the API's default.
    const code = trail.length > 1 ? trail[trail.length - 1].code : null;
    try {
      const data = await api('GET', `/cockpit/district${code ? `?division=${encodeURIComponent(code)}` : ''}`);
      if (read !== view.reads) return false;
      view.trail = [...trail.slice(0, -1), { code: data.division.code, name: data.division.name }];
      view.wanted = view.trail;
      view.data = data;
      onError('');
      render();
      return true;
    } catch (err) {
      if (read !== view.reads) return false;
      view.wanted = view.trail;
      if (err.status !== 401) onError(`${t('Could not load the figures')}: ${err.message}`);
      return false;
    }
  }

  /** Opens a division of the trail or under it, the keyboard landing on
   * its title. */
  async function open(trail) {
    if (await show(trail)) root.querySelector('[data-testid="district-title"]').focus();
  }

  function render() {
    const data = view.data;
    if (!data) return;
    const measure = MEASURES[view.measure];
    const select = h('select', { id: 'district-measure', 'data-testid': 'district-measure' },
      Object.entries(MEASURES).map(([key, m]) => {
        const option = h('option', { value: key }, t(m.label));
        option.selected = key === view.measure;
        return option;
      }));
    select.addEventListener('change', () => {
      view.measure = select.value;
      render();
      root.querySelector('[data-testid="district-measure"]').focus();
    });
    // replaceChildren would write a null out as text.
    root.replaceChildren(...[
      breadcrumb(),
      h('div', { class: 'district-head' },
        h('h2', { 'data-testid': 'district-title', tabindex: -1 }, `${data.division.name} · ${t('by division')}`),
        h('label', { for: 'district-measure' }, `${t('Colour by')} `), select),
      h('div', { class: 'district-body' },
        h('article', { class: 'panel map' }, map(data.children, measure)),
        h('article', { class: 'panel' }, hotIssues(data.hot_issues, data.window_days))),
      h('article', { class: 'panel table' }, table(data.children)),
    ].filter(Boolean));
  }

  /** The trail to a child of the division shown. */
  const down = (child) => [...view.trail, { code: child.code, name: child.name }];

  /** The way back up, once a division under the caller's own is open. */
  function breadcrumb() {
    if (view.trail.length < 2) return null;
    const last = view.trail.length - 1;
    return h('nav', { class: 'breadcrumb', 'aria-label': t('Divisions'), 'data-testid': 'district-breadcrumb' },
      h('ol', {}, view.trail.map((d, depth) => h('li', {}, depth === last
        ? h('span', { 'aria-current': 'page' }, d.name)
        : h('button', {
          type: 'button', class: 'link', 'data-testid': 'district-up', 'data-code': d.code,
          onclick: () => open(view.trail.slice(0, depth + 1)),
        }, d.name)))));
  }

  function map(children, measure) {
    const drawn = children.filter((c) => rings(c.boundary).length);
    const info = h('p', { class: 'region-info', 'data-testid': 'region-info', 'aria-live': 'polite' },
      !drawn.length ? t('No boundaries drawn yet.')
        : drawn.some(opens) ? t('Point at or tab to a division for its figure; click it or press Enter to open it.')
          : t('Point at or tab to a division for its figure.'));
    const title = h('h3', {}, t(measure.label));
    if (!drawn.length) return [title, info];
    const values = drawn.map((c) => measure.value(c));
    const { classOf, bounds } = classify(values);
    const project = projection(drawn.map((c) => c.boundary));
    const describe = (c) => `${c.name}: ${number(measure.value(c), 2)}`;
    const regions = drawn.map((c, i) => {
      const k = classOf(values[i]);
      const path = s('path', {
        d: pathOf(c.boundary, project), fill: k === null ? NO_DATA : CLASSES[k], 'fill-rule': 'evenodd',
        class: opens(c) ? 'region opens' : 'region', tabindex: 0, role: opens(c) ? 'button' : 'img',
        'aria-label': describe(c), 'data-testid': 'region', 'data-code': c.code,
      }, s('title', {}, describe(c)));
      const show = () => { info.textContent = describe(c); };
      path.addEventListener('focus', show);
      path.addEventListener('mouseenter', show);
      if (opens(c)) {
        path.addEventListener('click', () => open(down(c)));
        path.addEventListener('keydown', (event) => {
          if (event.key !== 'Enter' && event.key !== ' ') return;
          event.preventDefault();
          open(down(c));
        });
      }
      return path;
    });
    const legend = h('ul', { class: 'map-legend', 'data-testid': 'map-legend' },
      bounds.map(([from, to], i) => h('li', {},
        h('span', { class: `swatch c${i}`, 'aria-hidden': 'true' }),
        from === to ? number(from, 2) : `${number(from, 2)} – ${number(to, 2)}`)),
      values.some((v) => v === null || v === undefined)
        ? h('li', {}, h('span', { class: 'swatch none', 'aria-hidden': 'true' }), t('No data'))
        : null);
    return [
      title,
      s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'group', 'aria-label': t(measure.label), 'data-testid': 'district-map' },
        regions),
      legend,
      info,
    ];
  }

  function hotIssues(issues, days) {
    return [
      h('h3', {}, t('Requests by service, the most unmet first · last {days} days', { days })),
      issues.length
        ? h('table', { 'data-testid': 'hot-issues' },
          h('thead', {}, h('tr', {}, [t('Service'), t('Made'), t('Fulfilled'), t('Unmet')].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, issues.map((i) => h('tr', {},
            h('td', {}, i.service_code), h('td', {}, number(i.made)), h('td', {}, number(i.fulfilled)),
            h('td', { class: i.unmet ? 'unmet' : null }, number(i.unmet))))))
        : h('p', { class: 'muted' }, t('No requests yet.')),
    ];
  }

  function table(children) {
    const claimed = (c) => c.claims_accepted.reduce((sum, l) => sum + Number(l.amount), 0);
    const columns = [
      [t('Elders'), (c) => number(c.elders)],
      ['60–69', (c) => number(c.by_age_band['60-69'])],
      ['70–79', (c) => number(c.by_age_band['70-79'])],
      ['80–89', (c) => number(c.by_age_band['80-89'])],
      ['90+', (c) => number(c.by_age_band['90+'])],
      [t('Living alone'), (c) => number(c.living_alone)],
      [t('Grade 3–4'), (c) => number(c.by_grade['3'] + c.by_grade['4'])],
      [t('Dibao and tekun'), (c) => number(c.by_economic_status.dibao + c.by_economic_status.tekun)],
      [t('Enrolled for home care'), (c) => number(c.enrolled_by_service.home_care)],
      [t('Requests made'), (c) => number(c.requests.made)],
      [t('Fulfilled'), (c) => number(c.requests.fulfilled)],
      [t('Unmet'), (c) => number(c.requests.unmet)],
      [t('Median hours to fulfil'), (c) => number(c.requests.median_hours_to_fulfil, 1)],
      [t('Kitchens per 1,000 elders'), (c) => number(c.kitchens_per_1000_elders, 2)],
      [t('Caregivers per 1,000 elders'), (c) => number(c.caregivers_per_1000_elders, 2)],
      [t('Claims accepted (yuan)'), (c) => number(claimed(c), 2)],
      [t('Complaints open'), (c) => number(c.complaints.open)],
      [t('Overdue'), (c) => number(c.complaints.overdue)],
      [t('Upheld'), (c) => number(c.complaints.upheld)],
    ];
    return [
      h('h3', {}, t('Figures by division')),
      h('div', { class: 'scroll' },
        h('table', { 'data-testid': 'district-table' },
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t('Division')), columns.map(([label]) => h('th', { scope: 'col' }, label)))),
          h('tbody', {}, children.map((c) => h('tr', { 'data-testid': 'district-row', 'data-code': c.code },
            h('th', { scope: 'row' }, opens(c)
              ? h('button', { type: 'button', class: 'link', 'data-testid': 'district-open', onclick: () => open(down(c)) }, c.name)
              : c.name),
            columns.map(([, cell]) => h('td', {}, cell(c)))))))),
    ];
  }

  I.onChange(() => render());
  return { load, render };
}
