/** The playground page: controls, drawing, and the training worker (train-worker.ts) that does the work. */
import { HEAD_MEAN, TAIL_MEAN, recipeOf, type FieldArrow, type Frame, type FromWorker, type Method, type Ready, type ToWorker, type TrainConfig } from './protocol.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const X_RANGE = [-6, 6] as const;
const Y_RANGE = [-8, 8] as const;
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];

interface RunHistory {
  recipe: string;
  color: string;
  points: { step: number; tail: number; sw: number }[];
}

/** What the Playwright test reads. */
const state = {
  ready: null as Ready | null,
  frames: 0,
  last: null as Frame | null,
  runs: [] as RunHistory[],
  errors: [] as string[],
};
(globalThis as unknown as { __playground: typeof state }).__playground = state;

const worker = new Worker(new URL('./train-worker.ts', import.meta.url), { type: 'module' });
const send = (m: ToWorker) => worker.postMessage(m);

function toCanvas(c: HTMLCanvasElement, x: number, y: number): [number, number] {
  return [((x - X_RANGE[0]) / (X_RANGE[1] - X_RANGE[0])) * c.width, ((Y_RANGE[1] - y) / (Y_RANGE[1] - Y_RANGE[0])) * c.height];
}

function clear(c: HTMLCanvasElement): CanvasRenderingContext2D {
  const g = c.getContext('2d')!;
  g.fillStyle = '#fff';
  g.fillRect(0, 0, c.width, c.height);
  g.strokeStyle = '#eee';
  g.lineWidth = 1;
  for (let x = X_RANGE[0]; x <= X_RANGE[1]; x += 2) {
    const [px] = toCanvas(c, x, 0);
    g.beginPath();
    g.moveTo(px, 0);
    g.lineTo(px, c.height);
    g.stroke();
  }
  for (let y = Y_RANGE[0]; y <= Y_RANGE[1]; y += 2) {
    const [, py] = toCanvas(c, 0, y);
    g.beginPath();
    g.moveTo(0, py);
    g.lineTo(c.width, py);
    g.stroke();
  }
  // The two class means.
  for (const [m, label] of [
    [HEAD_MEAN, 'head'],
    [TAIL_MEAN, 'tail'],
  ] as const) {
    const [px, py] = toCanvas(c, m[0], m[1]);
    g.strokeStyle = '#999';
    g.beginPath();
    g.arc(px, py, 12, 0, 2 * Math.PI);
    g.stroke();
    g.fillStyle = '#777';
    g.font = '11px sans-serif';
    g.fillText(label, px + 15, py + 4);
  }
  return g;
}

function drawPoints(c: HTMLCanvasElement, pts: ArrayLike<number>, color: string, r = 1.3): void {
  const g = c.getContext('2d')!;
  g.fillStyle = color;
  for (let i = 0; i < pts.length; i += 2) {
    const [px, py] = toCanvas(c, pts[i]!, pts[i + 1]!);
    g.fillRect(px - r, py - r, 2 * r, 2 * r);
  }
}

/** Arrow colours: towards the head (up), towards the tail (down). Where they meet is the boundary between the basins. */
const HEADWARD = '#1f5fa8';
const TAILWARD = '#d9480f';

/**
 * Arrows of the score field: direction exact, length growing with log(1 + |s|) so both strong and weak regions
 * read, coloured by whether they point up (to the head) or down (to the tail): the boundary between the colours is
 * where a noisy point stops being pulled to the head, and it moves when the learned field gives the tail more room.
 */
function drawField(c: HTMLCanvasElement, field: FieldArrow[]): void {
  const g = c.getContext('2d')!;
  g.lineWidth = 1.2;
  for (const a of field) {
    const mag = Math.hypot(a.u, a.v);
    if (!(mag > 0)) continue;
    g.strokeStyle = g.fillStyle = a.v >= 0 ? HEADWARD : TAILWARD;
    const len = Math.min(18, 5 * Math.log1p(mag));
    const [x0, y0] = toCanvas(c, a.x, a.y);
    const dx = (a.u / mag) * len;
    const dy = (-a.v / mag) * len;
    g.beginPath();
    g.moveTo(x0, y0);
    g.lineTo(x0 + dx, y0 + dy);
    g.stroke();
    const ang = Math.atan2(dy, dx);
    g.beginPath();
    g.moveTo(x0 + dx, y0 + dy);
    g.lineTo(x0 + dx - 4 * Math.cos(ang - 0.5), y0 + dy - 4 * Math.sin(ang - 0.5));
    g.lineTo(x0 + dx - 4 * Math.cos(ang + 0.5), y0 + dy - 4 * Math.sin(ang + 0.5));
    g.closePath();
    g.fill();
  }
}

function drawHistory(): void {
  const c = $<HTMLCanvasElement>('history');
  const g = c.getContext('2d')!;
  g.fillStyle = '#fff';
  g.fillRect(0, 0, c.width, c.height);
  const pad = { l: 40, r: 10, t: 12, b: 24 };
  const half = (c.height - pad.t - pad.b) / 2 - 10;
  const maxStep = Math.max(100, ...state.runs.flatMap((r) => r.points.map((p) => p.step)));
  // Capped: an untrained model's first samples can lie far away (values above are drawn at the top).
  const maxSw = Math.min(3, Math.max(0.5, ...state.runs.flatMap((r) => r.points.map((p) => p.sw))));
  const sx = (s: number) => pad.l + (s / maxStep) * (c.width - pad.l - pad.r);
  const panels = [
    { top: pad.t, label: 'tail share (dashed: balanced 50%)', max: 1, value: (p: { tail: number }) => p.tail, ref: 0.5 },
    { top: pad.t + half + 20, label: 'SW to balanced', max: maxSw, value: (p: { sw: number }) => p.sw, ref: null },
  ];
  g.font = '11px sans-serif';
  for (const panel of panels) {
    const sy = (v: number) => panel.top + half - (Math.min(v, panel.max) / panel.max) * half;
    g.strokeStyle = '#bbb';
    g.strokeRect(pad.l, panel.top, c.width - pad.l - pad.r, half);
    g.fillStyle = '#444';
    g.fillText(panel.label, pad.l + 4, panel.top + 12);
    g.fillText(panel.max.toFixed(2), 2, panel.top + 10);
    g.fillText('0', 28, panel.top + half);
    if (panel.ref !== null) {
      g.setLineDash([4, 3]);
      g.beginPath();
      g.moveTo(pad.l, sy(panel.ref));
      g.lineTo(c.width - pad.r, sy(panel.ref));
      g.stroke();
      g.setLineDash([]);
    }
    for (const run of state.runs) {
      g.strokeStyle = run.color;
      g.lineWidth = 1.5;
      g.beginPath();
      run.points.forEach((p, i) => (i ? g.lineTo(sx(p.step), sy(panel.value(p))) : g.moveTo(sx(p.step), sy(panel.value(p)))));
      g.stroke();
    }
  }
  g.fillStyle = '#444';
  g.fillText(`step (0 .. ${maxStep})`, c.width / 2 - 30, c.height - 6);
  state.runs.slice(-6).forEach((r, i) => {
    g.fillStyle = r.color;
    g.fillText(r.recipe, pad.l + 6, pad.t + 28 + 13 * i);
  });
}

const params = new URLSearchParams(location.search);
/** URL parameters preset the controls (?method=h2t&resample&steps=100&autostart), for links and tests. */
function presetControls(): void {
  const method = params.get('method');
  if (method) for (const r of document.querySelectorAll<HTMLInputElement>('input[name=method]')) r.checked = r.value === method;
  if (params.has('resample')) $<HTMLInputElement>('resample').checked = true;
  for (const id of ['imbalance', 'batch', 'steps']) {
    const v = params.get(id);
    const sel = $<HTMLSelectElement>(id);
    if (v && ![...sel.options].some((o) => o.value === v)) sel.add(new Option(v, v));
    if (v) sel.value = v;
  }
  for (const id of ['beta', 'cut', 'fieldT']) {
    const v = params.get(id);
    if (v) $<HTMLInputElement>(id).value = v;
  }
}

function readConfig(): TrainConfig {
  const method = (document.querySelector('input[name=method]:checked') as HTMLInputElement).value as Method;
  return {
    method,
    resample: $<HTMLInputElement>('resample').checked,
    imbalance: Number($<HTMLSelectElement>('imbalance').value),
    beta: Number($<HTMLInputElement>('beta').value),
    cutTime: Number($<HTMLInputElement>('cut').value),
    batchSize: Number($<HTMLSelectElement>('batch').value),
    steps: Number($<HTMLSelectElement>('steps').value),
    fieldT: Number($<HTMLInputElement>('fieldT').value),
    seed: 0,
    referenceKernels: params.get('kernels') === 'reference',
  };
}

function drawExact(exact: FieldArrow[], balanced: FieldArrow[]): void {
  const ready = state.ready;
  const e = clear($('exact'));
  void e;
  if (ready) drawPoints($('exact'), ready.data, 'rgba(120,120,120,0.35)', 1);
  drawField($('exact'), exact);
  clear($('balanced'));
  drawField($('balanced'), balanced);
}

let currentRun = -1;
worker.onmessage = (ev: MessageEvent<FromWorker>) => {
  const m = ev.data;
  if (m.type === 'error') {
    state.errors.push(m.message);
    $('progress').textContent = `error: ${m.message.split('\n')[0]}`;
    console.error(`playground worker: ${m.message}`);
    return;
  }
  if (m.type === 'ready') {
    currentRun = m.run;
    state.ready = m;
    $('backend').textContent = `backend (in the worker): ${m.backend}`;
    drawExact(m.exactField, m.balancedField);
    state.runs.push({ recipe: m.recipe, color: COLORS[state.runs.length % COLORS.length]!, points: [{ step: 0, tail: m.dataTailShare, sw: m.dataSw }] });
    $('learnedCaption').textContent = `Learned score: ${m.recipe} (${m.tailCount} tail, ${m.headCount} head points)`;
    return;
  }
  if (m.run !== currentRun) return;
  if (m.type === 'exact') {
    drawExact(m.exactField, m.balancedField);
    return;
  }
  state.frames++;
  state.last = m;
  clear($('learned'));
  drawField($('learned'), m.field);
  if (m.samples) {
    clear($('samples'));
    drawPoints($('samples'), m.samples, COLORS[(state.runs.length - 1) % COLORS.length]!, 1.5);
    $('samplesCaption').textContent = `DDIM samples at step ${m.step}: tail ${(100 * m.tailShare!).toFixed(1)}% (balanced target 50%), SW ${m.sw!.toFixed(3)} (floor ${state.ready!.swFloor.toFixed(3)})`;
    state.runs[state.runs.length - 1]!.points.push({ step: m.step, tail: m.tailShare!, sw: m.sw! });
    drawHistory();
  }
  $('progress').textContent =
    `${state.ready!.recipe}: step ${m.step}/${m.steps}, loss ${m.loss.toFixed(4)}, ${m.stepMs.toFixed(1)} ms/step` +
    (m.transferRate ? `, targets transferred ${(100 * m.transferRate).toFixed(1)}%` : '') +
    (m.done ? ' (done)' : '');
};
worker.onerror = (e) => {
  state.errors.push(e.message);
  console.error(`playground worker failed: ${e.message}`);
};

function start(): void {
  const config = readConfig();
  $('progress').textContent = `starting ${recipeOf(config)} ...`;
  send({ type: 'start', config });
}

$('start').onclick = start;
$('stop').onclick = () => send({ type: 'stop' });
$<HTMLInputElement>('beta').oninput = () => ($('betaOut').textContent = $<HTMLInputElement>('beta').value);
$<HTMLInputElement>('cut').oninput = () => ($('cutOut').textContent = $<HTMLInputElement>('cut').value === '1000' ? 'none' : $<HTMLInputElement>('cut').value);
$<HTMLInputElement>('fieldT').oninput = () => {
  $('fieldTOut').textContent = $<HTMLInputElement>('fieldT').value;
  send({ type: 'fieldT', fieldT: Number($<HTMLInputElement>('fieldT').value) });
};
for (const id of ['exact', 'balanced', 'learned', 'samples']) clear($(id));
drawHistory();
presetControls();
$('betaOut').textContent = $<HTMLInputElement>('beta').value;
$('cutOut').textContent = $<HTMLInputElement>('cut').value === '1000' ? 'none' : $<HTMLInputElement>('cut').value;
$('fieldTOut').textContent = $<HTMLInputElement>('fieldT').value;
if (params.has('autostart')) start();
