// The diff report as one self-contained HTML file (inline CSS, no scripts, no external assets),
// so it can be attached to a ticket or a CI run and opened anywhere.
import type { DiffReport } from './diff.js';

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export interface ReportContext {
  /** What was replayed and against what, shown in the heading. */
  title: string;
  generatedAt?: Date;
  /** Extra figures for the summary (sent, skipped, duration…). */
  summary?: Record<string, string | number>;
}

export function renderHtmlReport(report: DiffReport, ctx: ReportContext): string {
  const when = (ctx.generatedAt ?? new Date()).toISOString();
  const verdict = report.diffs === 0 && report.failed === 0 ? '<p class="ok">No difference beyond noise.</p>' : `<p class="bad">${report.diffs} of ${report.compared} compared requests differ (${report.diffPercent}%)${report.failed ? `, ${report.failed} failed` : ''}.</p>`;
  const figures = { requests: report.requests, compared: report.compared, 'with differences': report.diffs, failed: report.failed, 'diff %': report.diffPercent, ...(ctx.summary ?? {}) };
  const rows = report.endpoints
    .map((e) => {
      const fields = e.fields.length
        ? `<table class="fields"><tr><th>field</th><th>requests</th><th>expected</th><th>actual</th><th>request</th></tr>${e.fields
            .map((f) =>
              f.examples
                .map(
                  (x, i) =>
                    `<tr>${i === 0 ? `<td rowspan="${f.examples.length}"><code>${esc(f.path)}</code></td><td rowspan="${f.examples.length}">${f.count}</td>` : ''}<td><code>${esc(x.expected)}</code></td><td><code>${esc(x.actual)}</code></td><td><code>${esc(x.request)}</code></td></tr>`,
                )
                .join(''),
            )
            .join('')}</table>`
        : '';
      const noise = e.noise.length ? `<p class="noise">noise (not counted): ${e.noise.map((n) => `<code>${esc(n)}</code>`).join(' ')}</p>` : '';
      const cls = e.diffs || e.failed ? 'bad' : 'ok';
      return `<section class="${cls}"><h2><code>${esc(e.endpoint)}</code></h2><p>${e.requests} requests, <b>${e.diffs}</b> with differences, ${e.failed} failed</p>${fields}${noise}</section>`;
    })
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(ctx.title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin:.2em 0}h2 code{font-size:1em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
code{font:12px ui-monospace,monospace;word-break:break-all}
section{border-left:4px solid #ccc;padding:.3em 1em;margin:1em 0}
section.bad{border-color:#c33}section.ok{border-color:#3a3}
p.ok{color:#272;font-weight:bold}p.bad{color:#a22;font-weight:bold}.noise{color:#777}
</style></head><body>
<h1>${esc(ctx.title)}</h1>
<p>generated ${esc(when)}</p>
${verdict}
<table class="summary">${Object.entries(figures)
    .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(String(v))}</td></tr>`)
    .join('')}</table>
${rows}
</body></html>
`;
}
