// A strict parser of the Prometheus text exposition format 0.0.4, written from the format's
// specification (https://prometheus.io/docs/instrumenting/exposition_formats/), independent of the
// renderer it checks (src/control/metrics.ts): it throws on the first line or family that breaks a
// rule, naming the line. promtool is not installed here and no parser is in node_modules.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help?: string;
  samples: Sample[];
}

const METRIC_NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL_NAME = '[a-zA-Z_][a-zA-Z0-9_]*';
const VALUE = '(?:[+-]?(?:\\d+\\.?\\d*(?:[eE][+-]?\\d+)?|\\.\\d+(?:[eE][+-]?\\d+)?)|NaN|[+-]Inf)';
const SAMPLE_LINE = new RegExp(`^(${METRIC_NAME})(?:\\{(.*)\\})? (${VALUE})(?: (-?\\d+))?$`);
const HELP_LINE = new RegExp(`^# HELP (${METRIC_NAME})(?: (.*))?$`);
const TYPE_LINE = new RegExp(`^# TYPE (${METRIC_NAME}) (counter|gauge|histogram|summary|untyped)$`);

function parseValue(v: string): number {
  if (v === 'NaN') return NaN;
  if (v === '+Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  return Number(v);
}

/** Parses `a="x",b="y\"z"` (a trailing comma allowed, as the format allows) with escapes \\, \", \n. */
function parseLabels(text: string, where: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  const nameRe = new RegExp(`^${LABEL_NAME}`);
  while (i < text.length) {
    const m = nameRe.exec(text.slice(i));
    if (!m) throw new Error(`${where}: bad label name at ${JSON.stringify(text.slice(i))}`);
    const name = m[0];
    i += name.length;
    if (text.slice(i, i + 2) !== '="') throw new Error(`${where}: expected =" after label ${name}`);
    i += 2;
    let value = '';
    for (;;) {
      if (i >= text.length) throw new Error(`${where}: unterminated value of label ${name}`);
      const c = text[i];
      if (c === '"') break;
      if (c === '\n') throw new Error(`${where}: raw newline in label ${name}`);
      if (c === '\\') {
        const e = text[i + 1];
        if (e === '\\') value += '\\';
        else if (e === '"') value += '"';
        else if (e === 'n') value += '\n';
        else throw new Error(`${where}: bad escape \\${e} in label ${name}`);
        i += 2;
        continue;
      }
      value += c;
      i++;
    }
    i++;
    if (name in labels) throw new Error(`${where}: label ${name} twice`);
    labels[name] = value;
    if (i === text.length) break;
    if (text[i] !== ',') throw new Error(`${where}: expected , after label ${name}`);
    i++;
  }
  return labels;
}

/** The family a sample name belongs to (histogram/summary suffixes folded), given the families declared. */
function familyOf(name: string, families: Map<string, Family>): Family | undefined {
  const direct = families.get(name);
  if (direct) return direct;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue;
    const f = families.get(name.slice(0, -suffix.length));
    if (f && (f.type === 'histogram' || (f.type === 'summary' && suffix !== '_bucket'))) return f;
  }
  return undefined;
}

export function parsePrometheusText(text: string): Map<string, Family> {
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  const families = new Map<string, Family>();
  const finished = new Set<string>();
  let current: Family | undefined;
  const seen = new Set<string>();
  const lines = text.split('\n').slice(0, -1);
  lines.forEach((line, idx) => {
    const where = `line ${idx + 1} ${JSON.stringify(line)}`;
    if (line === '') return;
    const declare = (name: string): Family => {
      if (finished.has(name)) throw new Error(`${where}: family ${name} continues after another family began`);
      let f = families.get(name);
      if (!f) families.set(name, (f = { name, type: 'untyped', samples: [] }));
      if (current && current !== f) finished.add(current.name);
      current = f;
      return f;
    };
    if (line.startsWith('#')) {
      const help = HELP_LINE.exec(line);
      if (help) {
        const f = declare(help[1]);
        if (f.help !== undefined) throw new Error(`${where}: second HELP for ${f.name}`);
        f.help = help[2] ?? '';
        return;
      }
      const type = TYPE_LINE.exec(line);
      if (type) {
        const f = declare(type[1]);
        if (f.samples.length > 0) throw new Error(`${where}: TYPE after samples of ${f.name}`);
        if (f.type !== 'untyped') throw new Error(`${where}: second TYPE for ${f.name}`);
        f.type = type[2] as Family['type'];
        return;
      }
      if (/^# (HELP|TYPE)\b/.test(line)) throw new Error(`${where}: malformed ${line.slice(2, 6)} line`);
      return; // an ordinary comment
    }
    const m = SAMPLE_LINE.exec(line);
    if (!m) throw new Error(`${where}: not a sample line`);
    const [, name, labelText, valueText] = m;
    const labels = labelText === undefined ? {} : parseLabels(labelText, where);
    const f = familyOf(name, families) ?? declare(name);
    if (f !== current) {
      if (finished.has(f.name)) throw new Error(`${where}: samples of ${f.name} are not grouped together`);
      declare(f.name);
    }
    const key = `${name}{${Object.entries(labels).sort().map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`;
    if (seen.has(key)) throw new Error(`${where}: series ${key} twice`);
    seen.add(key);
    const value = parseValue(valueText);
    if (f.type === 'counter' && !(value >= 0)) throw new Error(`${where}: a counter must be ≥ 0`);
    if (f.type === 'histogram' && name.endsWith('_bucket') && labels.le === undefined) throw new Error(`${where}: a histogram bucket needs le`);
    f.samples.push({ name, labels, value });
  });
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

/** Per series: le ascending, counts cumulative, a +Inf bucket equal to _count, a _sum. */
function checkHistogram(f: Family): void {
  const series = new Map<string, { buckets: [number, number][]; count?: number; sum?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    let e = series.get(key);
    if (!e) series.set(key, (e = { buckets: [] }));
    if (s.name === `${f.name}_bucket`) e.buckets.push([parseValue(le), s.value]);
    else if (s.name === `${f.name}_count`) e.count = s.value;
    else if (s.name === `${f.name}_sum`) e.sum = s.value;
    else throw new Error(`histogram ${f.name}: unexpected sample ${s.name}`);
  }
  for (const [key, e] of series) {
    const where = `histogram ${f.name}${key}`;
    if (e.count === undefined || e.sum === undefined) throw new Error(`${where}: _count and _sum are required`);
    const last = e.buckets[e.buckets.length - 1];
    if (!last || last[0] !== Infinity) throw new Error(`${where}: the last bucket must be le="+Inf"`);
    if (last[1] !== e.count) throw new Error(`${where}: +Inf bucket ${last[1]} ≠ _count ${e.count}`);
    for (let i = 1; i < e.buckets.length; i++) {
      if (!(e.buckets[i][0] > e.buckets[i - 1][0])) throw new Error(`${where}: le not ascending`);
      if (e.buckets[i][1] < e.buckets[i - 1][1]) throw new Error(`${where}: bucket counts not cumulative`);
    }
  }
}

/** The value of one series (labels must match exactly the given ones, others ignored), or undefined. */
export function sampleValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const f of families.values()) for (const s of f.samples) if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value;
  return undefined;
}
