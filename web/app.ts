// The page: pick or drop a model, choose a recipe (or passes) and a target, optimize in a Web Worker, then show
// the operators before and after, the sizes, a latency chart measured with onnxruntime-web here, and a download.
import type { Latency, OptimizeRequest, WorkerMessage, WorkerRequest } from './protocol.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const SVG = 'http://www.w3.org/2000/svg';

let chosen: { name: string; bytes: ArrayBuffer } | undefined;
let worker: Worker | undefined;
let downloadUrl: string | undefined;

function show(id: string, visible: boolean): void {
  $(id).hidden = !visible;
}

function fail(message: string): void {
  $('error').textContent = message;
  show('error', true);
  show('progress', false);
  ($('run') as HTMLButtonElement).disabled = !chosen;
}

function choose(name: string, bytes: ArrayBuffer): void {
  chosen = { name, bytes };
  ($('run') as HTMLButtonElement).disabled = false;
  $('step').textContent = '';
  $('drop').querySelector('span')!.textContent = `${name} (${formatBytes(bytes.byteLength)})`;
}

function formatBytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(2)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

async function chooseFile(file: File | undefined): Promise<void> {
  if (!file) return;
  if (!/\.onnx$/i.test(file.name)) return fail(`${file.name}: not an .onnx file`);
  choose(file.name, await file.arrayBuffer());
}

function selectedPasses(): string[] {
  const recipe = ($('recipe') as HTMLSelectElement).value;
  if (recipe !== 'custom') return recipe.split(' ');
  return [...$('passes').querySelectorAll<HTMLInputElement>('input:checked')].map((c) => c.value);
}

function row(cells: (string | number)[], numeric: number[] = [], className = ''): HTMLTableRowElement {
  const tr = document.createElement('tr');
  if (className) tr.className = className;
  cells.forEach((c, i) => {
    const td = document.createElement('td');
    td.textContent = String(c);
    if (numeric.includes(i)) td.className = 'num';
    tr.append(td);
  });
  return tr;
}

function showOptimized(m: Extract<WorkerMessage, { kind: 'optimized' }>): void {
  const ratio = m.sizeAfter / m.sizeBefore;
  $('sizes').textContent = `${formatBytes(m.sizeBefore)} -> ${formatBytes(m.sizeAfter)} (${(ratio * 100).toFixed(1)}%)`;
  $('warnings').replaceChildren(
    ...m.warnings.map((w) => Object.assign(document.createElement('li'), { textContent: w })),
  );
  $('passes-run')
    .querySelector('tbody')!
    .replaceChildren(
      ...m.passes.map((p) =>
        row(
          [
            p.name,
            p.changed ? 'yes' : 'no',
            Object.entries(p.stats)
              .map(([k, v]) => `${k}=${v}`)
              .join(' '),
            p.ms.toFixed(0),
          ],
          [3],
        ),
      ),
    );
  const ops = [...new Set([...Object.keys(m.before), ...Object.keys(m.after)])].sort();
  $('ops')
    .querySelector('tbody')!
    .replaceChildren(
      ...ops.map((op) =>
        row(
          [op.replace(/^ai\.onnx::/, ''), m.before[op] ?? 0, m.after[op] ?? 0],
          [1, 2],
          m.before[op] !== m.after[op] ? 'changed' : '',
        ),
      ),
    );
  if (downloadUrl) URL.revokeObjectURL(downloadUrl);
  downloadUrl = URL.createObjectURL(new Blob([m.bytes], { type: 'application/octet-stream' }));
  const link = $('download') as HTMLAnchorElement;
  link.href = downloadUrl;
  link.download = chosen!.name.replace(/(\.onnx)?$/i, `.${selectedPasses().join('-')}.onnx`);
  show('result', true);
}

/** Horizontal bars of the median latency, with the 10th-90th percentile range as a whisker. */
function drawChart(before: Latency, after: Latency): void {
  const chart = $('chart') as unknown as SVGSVGElement;
  const width = 640;
  const left = 90;
  const right = 110;
  // scaled to the slower median, so one slow run does not squash the bars; whiskers are clipped at the edge
  const span = width - left - right;
  const scale = span / (1.25 * Math.max(before.p50, after.p50, 1e-3));
  const x = (ms: number) => left + Math.min(ms * scale, span);
  const el = (tag: string, attributes: Record<string, string | number>, text?: string) => {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attributes)) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const bars = (
    [
      ['original', before, 'before'],
      ['optimized', after, 'after'],
    ] as const
  ).flatMap(([label, l, cls], i) => {
    const y = 20 + i * 45;
    return [
      el('text', { x: 0, y: y + 17 }, label),
      el('rect', { class: cls, x: left, y, width: Math.max(1, x(l.p50) - left), height: 24 }),
      el('line', { x1: x(l.p10), x2: x(l.p90), y1: y + 12, y2: y + 12 }),
      el('text', { x: x(Math.max(l.p50, l.p90)) + 8, y: y + 17, class: `value ${cls}` }, `${l.p50.toFixed(2)} ms`),
    ];
  });
  chart.replaceChildren(...bars);
}

function start(): void {
  if (!chosen) return;
  show('error', false);
  show('result', false);
  show('latency', false);
  show('progress', true);
  ($('run') as HTMLButtonElement).disabled = true;
  worker?.terminate();
  worker = new Worker('worker.js', { type: 'module' });
  worker.onerror = (e) => fail(`the worker failed: ${e.message}`);
  worker.onmessage = (event: MessageEvent<WorkerMessage>) => {
    const m = event.data;
    if (m.kind === 'progress') {
      ($('bar') as HTMLProgressElement).value = m.done / m.total;
      $('step').textContent = m.label;
    } else if (m.kind === 'optimized') {
      showOptimized(m);
      if (Number(($('iterations') as HTMLInputElement).value) === 0) done();
    } else if (m.kind === 'latency') {
      $('latency-note').textContent =
        `${m.runtime}; inputs ${m.inputs}; median of ${m.before.samples.length} runs each, interleaved; whiskers: 10th-90th percentile. ` +
        `Speed-up ${(m.before.p50 / m.after.p50).toFixed(2)}x.`;
      drawChart(m.before, m.after);
      show('latency', true);
      done();
    } else if (m.kind === 'error') {
      fail(m.message);
    }
  };
  const bytes = chosen.bytes.slice(0);
  const request: OptimizeRequest = {
    kind: 'optimize',
    bytes,
    fileName: chosen.name,
    passes: selectedPasses(),
    target: ($('target') as HTMLSelectElement).value,
    iterations: Math.max(0, Math.floor(Number(($('iterations') as HTMLInputElement).value) || 0)),
    sequence: Math.max(1, Math.floor(Number(($('sequence') as HTMLInputElement).value) || 128)),
  };
  worker.postMessage(request, [bytes]);
}

function done(): void {
  show('progress', false);
  $('step').textContent = 'done';
  document.body.dataset.state = 'done';
  ($('run') as HTMLButtonElement).disabled = false;
}

/** The pass checkboxes, from the worker: the optimizer loads there only, not on the page's thread. */
function listPasses(): Promise<void> {
  const describer = new Worker('worker.js', { type: 'module' });
  return new Promise((resolve) => {
    describer.onmessage = (event: MessageEvent<WorkerMessage>) => {
      if (event.data.kind !== 'passes') return;
      for (const pass of event.data.passes) {
        const label = document.createElement('label');
        const box = Object.assign(document.createElement('input'), {
          type: 'checkbox',
          value: pass.name,
          checked: pass.name === 'fuse',
        });
        label.append(box, ` ${pass.name}`);
        label.title = pass.description;
        $('passes').append(label);
      }
      describer.terminate();
      resolve();
    };
    describer.postMessage({ kind: 'describe' } satisfies WorkerRequest);
  });
}

async function setUp(): Promise<void> {
  await listPasses();
  $('recipe').addEventListener('change', () => show('passes', ($('recipe') as HTMLSelectElement).value === 'custom'));
  $('file').addEventListener('change', () => void chooseFile(($('file') as HTMLInputElement).files?.[0]));
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    void chooseFile(e.dataTransfer?.files[0]);
  });
  $('run').addEventListener('click', start);
  void fetch('samples/samples.json')
    .then((r) => r.json() as Promise<string[]>)
    .then((names) => {
      const select = $('sample') as HTMLSelectElement;
      select.append(...names.map((n) => Object.assign(document.createElement('option'), { value: n, textContent: n })));
      select.addEventListener('change', async () => {
        if (!select.value) return;
        const response = await fetch(`samples/${select.value}`);
        choose(select.value, await response.arrayBuffer());
      });
    });
  document.body.dataset.state = 'ready';
}

void setUp();
