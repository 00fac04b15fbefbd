// Cross-field rules of `release:` and `analysisTemplates:`, checked on the raw (merged) data so
// they are reported with file:line:col like every other spec problem: the strategy's block matches
// the strategy, a canary or blue-green release has a port to move traffic on, templates named by a
// release exist, a preview port is free, metrics are measurable (count > 1 needs an interval, as
// Argo Rollouts requires) and their conditions parse.
import type { PathSeg } from './positions.js';
import type { Problem } from './problem.js';
import { didYouMean, listOr } from './errors.js';
import { isPlainObject } from './shape.js';
import { ExpressionError, parseExpression } from '../lib/expr.js';

type Raw = Record<string, unknown>;

/** Checks every service's `release` and the top-level `analysisTemplates`. */
export function checkReleases(data: Raw, services: Raw, errors: Problem[], warnings: Problem[]): void {
  const templates = isPlainObject(data.analysisTemplates) ? data.analysisTemplates : {};
  const templateNames = Object.keys(templates);
  const used = new Set<string>();
  const portOwner = new Map<number, string>();
  for (const [name, svc] of Object.entries(services)) if (isPlainObject(svc) && typeof svc.port === 'number') portOwner.set(svc.port, `service \`${name}\``);
  if (isPlainObject(data.ingress) && typeof data.ingress.port === 'number') portOwner.set(data.ingress.port, 'the ingress');

  const metricNames = (t: string): string[] => {
    const tpl = templates[t];
    return isPlainObject(tpl) && Array.isArray(tpl.metrics) ? tpl.metrics.flatMap((m: unknown) => (isPlainObject(m) && typeof m.name === 'string' ? [m.name] : [])) : [];
  };
  const checkRef = (ref: unknown, path: PathSeg[]): void => {
    if (!isPlainObject(ref) || !Array.isArray(ref.templates)) return;
    // Templates run together are one run (one Argo AnalysisRun): their metric names must not clash.
    const metricOwner = new Map<string, string>();
    const listed = new Set<string>();
    ref.templates.forEach((t: unknown, i: number) => {
      if (typeof t !== 'string') return;
      used.add(t);
      if (listed.has(t)) {
        errors.push({ path: [...path, 'templates', i], message: `template \`${t}\` is listed twice`, hint: 'name each template once' });
        return;
      }
      listed.add(t);
      if (Object.hasOwn(templates, t)) {
        for (const name of metricNames(t)) {
          const other = metricOwner.get(name);
          if (other !== undefined && other !== t)
            errors.push({ path: [...path, 'templates', i], message: `templates \`${other}\` and \`${t}\` both have a metric \`${name}\`, and templates run together must not (Argo Rollouts merges them into one analysis run)`, hint: 'rename one of the metrics' });
          else metricOwner.set(name, t);
        }
        return;
      }
      const close = didYouMean(t, templateNames);
      errors.push({
        path: [...path, 'templates', i],
        message: `unknown analysis template \`${t}\``,
        hint: close !== undefined ? `did you mean \`${close}\`?` : templateNames.length > 0 ? `declared templates: ${listOr(templateNames)}` : 'declare it under the top-level `analysisTemplates:`',
      });
    });
  };

  for (const [name, svc] of Object.entries(services)) {
    if (!isPlainObject(svc) || !isPlainObject(svc.release)) continue;
    const rel = svc.release;
    const base: PathSeg[] = ['services', name, 'release'];
    const strategy = typeof rel.strategy === 'string' ? rel.strategy : 'rolling';
    for (const block of ['canary', 'blueGreen'] as const) {
      if (rel[block] !== undefined && strategy !== block)
        errors.push({ path: [...base, block], mode: 'key', message: `\`${block}\` settings apply only with \`strategy: ${block}\`, but the strategy is ${strategy}`, hint: `set \`strategy: ${block}\` or remove \`${block}\`` });
    }
    if ((strategy === 'canary' || strategy === 'blueGreen') && svc.port === undefined)
      errors.push({ path: [...base, 'strategy'], message: `a ${strategy} release moves traffic through the mesh, so service \`${name}\` needs a port`, hint: 'give the service a `port`, or use `strategy: rolling`' });

    if (isPlainObject(rel.canary)) checkCanary(rel.canary, [...base, 'canary'], checkRef, errors, warnings);
    if (isPlainObject(rel.blueGreen)) {
      const bg = rel.blueGreen;
      const p: PathSeg[] = [...base, 'blueGreen'];
      checkRef(bg.prePromotionAnalysis, [...p, 'prePromotionAnalysis']);
      checkRef(bg.postPromotionAnalysis, [...p, 'postPromotionAnalysis']);
      if (typeof bg.previewPort === 'number') {
        const owner = portOwner.get(bg.previewPort);
        if (owner !== undefined) errors.push({ path: [...p, 'previewPort'], message: `port ${bg.previewPort} is already ${owner === `service \`${name}\`` ? "this service's own port" : `${owner}'s port`}`, hint: 'the preview is served on 127.0.0.1 beside the services: choose a free port' });
        else portOwner.set(bg.previewPort, `the preview of \`${name}\``);
      }
      if (bg.autoPromotionEnabled === false && bg.autoPromotionSeconds !== undefined)
        warnings.push({ path: [...p, 'autoPromotionSeconds'], mode: 'key', message: 'autoPromotionSeconds has no effect with autoPromotionEnabled: false (the preview waits for `berth release promote`)' });
    }
    if (isPlainObject(rel.rollbackWindow) && typeof rel.rollbackWindow.revisions === 'number') {
      const limit = typeof rel.revisionHistoryLimit === 'number' ? rel.revisionHistoryLimit : 10;
      if (rel.rollbackWindow.revisions > limit)
        warnings.push({ path: [...base, 'rollbackWindow', 'revisions'], message: `the rollback window (${rel.rollbackWindow.revisions}) is larger than the revisions kept (revisionHistoryLimit ${limit}): only ${limit} can be gone back to` });
    }
  }

  for (const [tname, tpl] of Object.entries(templates)) {
    if (!isPlainObject(tpl)) continue;
    const base: PathSeg[] = ['analysisTemplates', tname];
    if (!used.has(tname)) warnings.push({ path: base, mode: 'key', message: `analysis template \`${tname}\` is not used by any release` });
    if (!Array.isArray(tpl.metrics)) continue;
    const seen = new Set<string>();
    tpl.metrics.forEach((m: unknown, i: number) => {
      if (!isPlainObject(m)) return;
      const p: PathSeg[] = [...base, 'metrics', i];
      if (typeof m.name === 'string') {
        if (seen.has(m.name)) errors.push({ path: [...p, 'name'], message: `duplicate metric name \`${m.name}\``, hint: 'metric names must be unique within a template' });
        seen.add(m.name);
      }
      if (typeof m.count === 'number' && m.count > 1 && m.interval === undefined)
        errors.push({ path: [...p, 'count'], message: `count ${m.count} needs an interval between the measurements`, hint: 'add `interval: 10s` (or another duration), as Argo Rollouts requires' });
      for (const key of ['successCondition', 'failureCondition'] as const) {
        const text = m[key];
        if (typeof text !== 'string' || text === '') continue;
        try {
          parseExpression(text);
        } catch (err) {
          if (!(err instanceof ExpressionError)) throw err;
          errors.push({ path: [...p, key], message: `${key} does not parse: ${err.message}`, hint: 'conditions are expressions over `result`, e.g. `result.canary.errorRate < 0.01 && result.canary.p99Ms < result.stable.p99Ms * 1.2`' });
        }
      }
    });
  }
}

function checkCanary(canary: Raw, base: PathSeg[], checkRef: (ref: unknown, path: PathSeg[]) => void, errors: Problem[], warnings: Problem[]): void {
  const steps = Array.isArray(canary.steps) ? canary.steps : [];
  let lastWeight: number | undefined;
  const routeKinds = new Map<string, 'setHeaderRoute' | 'setMirrorRoute'>();
  steps.forEach((step: unknown, i: number) => {
    if (!isPlainObject(step)) return;
    const p: PathSeg[] = [...base, 'steps', i];
    if (typeof step.setWeight === 'number') {
      if (lastWeight !== undefined && step.setWeight < lastWeight)
        warnings.push({ path: [...p, 'setWeight'], message: `the weight goes down from ${lastWeight} to ${step.setWeight}: the canary loses traffic at this step`, hint: 'weights usually only grow; an abort (not a step) is how traffic goes back to stable' });
      lastWeight = step.setWeight;
    }
    checkRef(step.analysis, [...p, 'analysis']);
    for (const kind of ['setHeaderRoute', 'setMirrorRoute'] as const) {
      const r = step[kind];
      if (!isPlainObject(r) || typeof r.name !== 'string') continue;
      const other = routeKinds.get(r.name);
      if (other !== undefined && other !== kind) errors.push({ path: [...p, kind, 'name'], message: `route name \`${r.name}\` is already a ${other === 'setHeaderRoute' ? 'header' : 'mirror'} route`, hint: 'give header and mirror routes different names' });
      routeKinds.set(r.name, kind);
    }
  });
  if (isPlainObject(canary.analysis)) {
    checkRef(canary.analysis, [...base, 'analysis']);
    const start = canary.analysis.startingStep;
    if (typeof start === 'number' && start > steps.length)
      errors.push({ path: [...base, 'analysis', 'startingStep'], message: `startingStep ${start} is past the last step (there ${steps.length === 1 ? 'is 1 step' : `are ${steps.length} steps`})`, hint: `use a step index from 0 to ${steps.length}` });
  }
}
