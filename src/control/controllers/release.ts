// release/<service>: a canary or blue-green release (issue 14), with Argo Rollouts' meaning. It moves
// the release's state (release/state.ts) through the steps — weights, pauses, header routes, canary
// scale, analysis runs — and promotes or aborts. The deployment controller reads that state to run
// stable and canary side by side; the mesh feed reads it for the weights. Reconcile never waits:
// measurements run detached (a reconcile is queued when one ends), so an abort or a promote from the
// API is never overwritten by a reconcile that read the state before it.
import type { DesiredService, DesiredState } from '../../plan/index.js';
import type { CanaryStepSpec } from '../../contract/index.js';
import { isCompleted, newAnalysisRun, type AnalysisRun } from '../release/analysis-run.js';
import { AnalysisRunner, terminateRun } from '../release/analysis-runner.js';
import { controlPlaneProviders, loadAnalysisRun, saveAnalysisRun } from '../release/persist.js';
import { loadShadow, mergeReadings, mirroring, saveShadow, SHADOW_READ_INTERVAL_MS, worldShadowSource, type ShadowSource, type StoredShadow } from '../release/shadow.js';
import { CANARY_VARIANT, canaryReplicas, isActive, loadRelease, saveRelease, type ReleaseState } from '../release/state.js';
import type { World } from '../world.js';
import type { Act, ReconcileOutcome } from './act.js';
import { effectiveReplicas } from './replicas.js';

/** Canary: how long the old revision keeps running after the switch to 100 % (every proxy takes the new snapshot first). */
export const CANARY_SCALE_DOWN_MS = 2000;

export class ReleaseError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export class ReleaseController {
  private readonly runner: AnalysisRunner;
  /** Runs being measured now → their abort switch. */
  private readonly measuring = new Map<string, AbortController>();
  /** Services whose proxies' shadow counters are being read now, and when each was last read. */
  private readonly shadowReads = new Map<string, AbortController>();
  private readonly shadowReadAt = new Map<string, number>();
  private readonly shadowSource: ShadowSource;

  constructor(
    world: World,
    private readonly log: (msg: string) => void,
    /** Where the replay provider finds recordings: the control plane's state folder and the app's. */
    dirs?: { stateDir: string; appDir: () => string },
    shadowSource?: ShadowSource,
  ) {
    this.runner = new AnalysisRunner({ providers: controlPlaneProviders(world, dirs) });
    this.shadowSource = shadowSource ?? worldShadowSource(world);
  }

  async reconcile(service: string, world: World, act: Act): Promise<ReconcileOutcome> {
    const s = loadRelease(world, service);
    const spec = world.spec(service);
    if (!s || !spec || world.down || spec.revision !== s.canaryRevision) return {};
    const out = this.release(s, spec, world, act);
    // Read after the steps: a release that just ended gets its last reading.
    const shadowIn = this.watchShadow(loadRelease(world, service) ?? s, world, act);
    if (shadowIn === undefined) return out;
    return { ...out, requeueAfterMs: Math.min(out.requeueAfterMs ?? Infinity, shadowIn) };
  }

  private release(s: ReleaseState, spec: DesiredService, world: World, act: Act): ReconcileOutcome {
    const service = s.service;
    const now = Date.now();
    if (s.phase === 'Healthy') {
      if (s.scaleDownAt === undefined) return {};
      // Blue-green: the post-promotion analysis judges the switch; the old side stays until it passed.
      const post = s.strategy === 'blueGreen' ? spec.release?.blueGreen?.postPromotionAnalysis : undefined;
      if (post && !s.postDone) {
        const wake: number[] = [];
        const before = JSON.stringify(s);
        s.stepRun ??= this.startRun(s, world, post.templates, 'postpromotion', now);
        const run = this.poll(s, s.stepRun, world, act, wake);
        if (run && (run.phase === 'Failed' || run.phase === 'Error' || run.phase === 'Inconclusive')) {
          // Switch back: stable (still running) takes every request again.
          if (s.stableNumber !== undefined) world.history.setStatus(service, s.stableNumber, 'current');
          delete s.scaleDownAt;
          delete s.promotedAt;
          this.abort(s, world, act, `post-promotion analysis ${run.id} ${run.phase}: switched back to ${s.stableRevision}`);
        } else if (run?.phase === 'Successful') {
          s.postDone = true;
          delete s.stepRun;
        }
        if (JSON.stringify(s) !== before) {
          saveRelease(world, s);
          this.changed(act, service);
        }
        if (!s.postDone) return wake.length ? { requeueAfterMs: Math.max(10, Math.min(...wake) - Date.now()) } : {};
      }
      if (now < s.scaleDownAt!) return { requeueAfterMs: s.scaleDownAt! - now };
      // The old revision stops here, before the state stops naming it: no snapshot routes to it again.
      for (const rec of world.liveOf(service)) {
        if (rec.phase !== 'active' || rec.revision !== s.stableRevision) continue;
        act.terminate(rec, true);
        act.event({ type: 'Normal', reason: 'Killing', message: `stopping ${rec.id}: revision ${s.stableRevision} replaced by the promoted ${s.canaryRevision}`, service, instance: rec.id, node: rec.node });
      }
      saveRelease(world, { ...s, scaleDownAt: undefined });
      this.changed(act, service);
      return {};
    }
    if (s.phase === 'Degraded') return {};
    const before = JSON.stringify(s);
    const wake: number[] = [];
    if (s.strategy === 'canary') this.canary(s, spec, world, act, wake, now);
    else this.blueGreen(s, spec, world, act, wake, now);
    if (JSON.stringify(s) !== before) {
      saveRelease(world, s);
      this.changed(act, service);
    }
    // throttle.slowStart: the canary's budget grows in tenths over the window; each tenth is a new snapshot.
    const ramp = spec.release?.canary?.throttle?.slowStart;
    if (s.strategy === 'canary' && ramp !== undefined && s.weightAt !== undefined && (s.phase === 'Progressing' || s.phase === 'Paused') && now - s.weightAt < ramp) {
      act.notify();
      wake.push(now + Math.max(50, ramp / 10));
    }
    const next = wake.length > 0 ? Math.min(...wake) : undefined;
    return next !== undefined ? { requeueAfterMs: Math.max(10, next - Date.now()) } : {};
  }

  /**
   * Shadow traffic: while the release mirrors, reads every proxy's shadow counters about once a
   * second (detached, like measurements) into the release's sum; once more when it has ended.
   * Returns when to look again (undefined: nothing to read).
   */
  private watchShadow(s: ReleaseState, world: World, act: Act): number | undefined {
    const stored = loadShadow(world, s.service);
    const mine = stored?.canaryRevision === s.canaryRevision ? stored : undefined;
    const active = mirroring(world, s);
    const ended = s.phase === 'Healthy' || s.phase === 'Degraded';
    if (!active && !(ended && mine && !mine.final)) return undefined;
    if (this.shadowReads.has(s.service)) return SHADOW_READ_INTERVAL_MS;
    const last = this.shadowReadAt.get(s.service) ?? 0;
    const now = Date.now();
    if (active && now - last < SHADOW_READ_INTERVAL_MS) return SHADOW_READ_INTERVAL_MS - (now - last);
    const stop = new AbortController();
    this.shadowReads.set(s.service, stop);
    this.shadowReadAt.set(s.service, now);
    const service = s.service;
    const revision = s.canaryRevision;
    void this.shadowSource
      .read(service, stop.signal)
      .then((readings) => {
        if (stop.signal.aborted) return;
        const current = loadRelease(world, service);
        if (!current || current.canaryRevision !== revision) return;
        const prev = loadShadow(world, service);
        const base: StoredShadow = prev?.canaryRevision === revision ? prev : { service, canaryRevision: revision, proxies: {}, carried: [] };
        const next = mergeReadings(base, readings, Date.now());
        if (ended) next.final = true;
        saveShadow(world, next);
      })
      .catch((err: unknown) => this.log(`shadow counters of ${service}: ${(err as Error).message}`))
      .finally(() => {
        if (this.shadowReads.get(service) === stop) this.shadowReads.delete(service);
        if (active) act.enqueue('release', service);
      });
    return active ? SHADOW_READ_INTERVAL_MS : undefined;
  }

  /** Weights, instance counts or phase may have moved: the mesh and the deployment follow. */
  private changed(act: Act, service: string): void {
    act.enqueue('deployment', service);
    act.notify();
  }

  // ------------------------------------------------------------------ canary

  private canary(s: ReleaseState, spec: DesiredService, world: World, act: Act, wake: number[], now: number): void {
    const steps = spec.release?.canary?.steps ?? [];
    const background = spec.release?.canary?.analysis;
    if (s.promoting) return this.finishPromotion(s, spec, world, act, wake, now);
    // Steps that need no waiting follow each other in one pass.
    for (let guard = 0; guard <= steps.length; guard++) {
      // Background analysis from its starting step on (checked after every step: a step may start it).
      if (background && !s.backgroundRun && s.step >= (background.startingStep ?? 0)) s.backgroundRun = this.startRun(s, world, background.templates, 'background', now);
      if (s.backgroundRun) {
        const run = this.poll(s, s.backgroundRun, world, act, wake);
        if (run && (run.phase === 'Failed' || run.phase === 'Error')) return this.abort(s, world, act, `background analysis ${run.id} ${run.phase}${run.message ? `: ${run.message}` : ''}`);
        if (run && run.phase === 'Inconclusive' && s.phase !== 'Paused') this.pause(s, act, `background analysis ${run.id} Inconclusive: \`berth release promote\` goes on, \`berth release abort\` stops`);
      }
      if (s.phase === 'Paused') return;
      if (s.step >= steps.length) return this.promote(s, spec, world, act, wake, now, 'every step done');
      const step = steps[s.step];
      if (!this.canaryStep(s, step, spec, world, act, wake, now)) return;
      this.advance(s, steps, act, now);
    }
  }

  /** One step; true when it is done (the release moves to the next). */
  private canaryStep(s: ReleaseState, step: CanaryStepSpec, spec: DesiredService, world: World, act: Act, wake: number[], now: number): boolean {
    if (step.setWeight !== undefined) {
      // The weight moves only once the canary instances it needs are ready (no request finds none).
      const need = canaryReplicas({ ...s, weight: step.setWeight }, effectiveReplicas(world, spec));
      const ready = this.readyCanary(s, world);
      if (ready < need) {
        s.message = `waiting for ${need} ready canary instance${need === 1 ? '' : 's'} (${ready} ready)`;
        s.pendingWeight = step.setWeight;
        wake.push(now + 250);
        return false;
      }
      delete s.pendingWeight;
      delete s.message;
      if (s.weight !== step.setWeight) s.weightAt = now;
      s.weight = step.setWeight;
      return true;
    }
    if (step.pause) {
      if (step.pause.duration === undefined) {
        this.pause(s, act, 'pause step: waiting for `berth release promote`');
        return false;
      }
      s.pauseUntil ??= now + step.pause.duration;
      if (now < s.pauseUntil) {
        wake.push(s.pauseUntil);
        return false;
      }
      return true;
    }
    if (step.setCanaryScale) {
      const c = step.setCanaryScale;
      if (c.matchTrafficWeight) delete s.canaryScale;
      else s.canaryScale = c.replicas !== undefined ? { replicas: c.replicas } : { weight: c.weight! };
      return true;
    }
    if (step.setHeaderRoute) {
      const h = step.setHeaderRoute;
      if (h.match && this.readyCanary(s, world) === 0) {
        s.message = 'waiting for a ready canary instance before the header route';
        wake.push(now + 250);
        return false;
      }
      s.headerRoutes = s.headerRoutes.filter((r) => r.name !== h.name);
      if (h.match) s.headerRoutes.push({ name: h.name, match: h.match });
      return true;
    }
    if (step.setMirrorRoute) {
      const m = step.setMirrorRoute;
      s.mirrorRoutes = (s.mirrorRoutes ?? []).filter((r) => r.name !== m.name);
      if (m.match) s.mirrorRoutes.push({ name: m.name, percentage: m.percentage ?? 100, match: m.match });
      return true;
    }
    if (step.analysis) {
      s.stepRun ??= this.startRun(s, world, step.analysis.templates, `step-${s.step}`, now);
      const run = this.poll(s, s.stepRun, world, act, wake);
      if (!run || !isCompleted(run.phase)) return false;
      if (run.phase === 'Successful') return true;
      if (run.phase === 'Inconclusive') {
        this.pause(s, act, `analysis ${run.id} Inconclusive: \`berth release promote\` goes on, \`berth release abort\` stops`);
        return false;
      }
      this.abort(s, world, act, `analysis ${run.id} ${run.phase}${run.message ? `: ${run.message}` : ''}`);
      return false;
    }
    return true;
  }

  private advance(s: ReleaseState, steps: CanaryStepSpec[], act: Act, now: number): void {
    const step = steps[s.step];
    act.event({ type: 'Normal', reason: 'ReleaseStep', message: `${s.service}: step ${s.step + 1}/${steps.length} done (${describeStep(step)}); canary weight ${s.weight}%`, service: s.service });
    s.step++;
    s.stepStartedAt = now;
    delete s.pauseUntil;
    delete s.stepRun;
    delete s.message;
  }

  private readyCanary(s: ReleaseState, world: World): number {
    return world.readyOf(s.service).filter((r) => r.revision === s.canaryRevision).length;
  }

  // ------------------------------------------------------------------ blue-green

  private blueGreen(s: ReleaseState, spec: DesiredService, world: World, act: Act, wake: number[], now: number): void {
    const bg = spec.release?.blueGreen;
    if (s.promoting) return this.finishPromotion(s, spec, world, act, wake, now);
    const replicas = effectiveReplicas(world, spec);
    if (this.readyCanary(s, world) < Math.max(1, replicas)) {
      s.message = `waiting for the preview (${this.readyCanary(s, world)}/${replicas} ready)`;
      wake.push(now + 250);
      return;
    }
    if (s.previewReadyAt === undefined) {
      s.previewReadyAt = now;
      delete s.message;
      act.event({ type: 'Normal', reason: 'ReleaseStep', message: `${s.service}: preview ${s.canaryRevision} ready${bg?.previewPort ? ` on 127.0.0.1:${bg.previewPort}` : ''}`, service: s.service });
    }
    if (bg?.prePromotionAnalysis) {
      s.stepRun ??= this.startRun(s, world, bg.prePromotionAnalysis.templates, 'prepromotion', now);
      const run = this.poll(s, s.stepRun, world, act, wake);
      if (!run || !isCompleted(run.phase)) return;
      if (run.phase === 'Failed' || run.phase === 'Error') return this.abort(s, world, act, `pre-promotion analysis ${run.id} ${run.phase}${run.message ? `: ${run.message}` : ''}`);
      if (run.phase === 'Inconclusive' && s.phase !== 'Paused') return this.pause(s, act, `pre-promotion analysis ${run.id} Inconclusive`);
    }
    if (s.phase === 'Paused') return;
    const auto = bg?.autoPromotionEnabled ?? true;
    if (!auto) return this.pause(s, act, 'waiting for `berth release promote` (autoPromotionEnabled: false)');
    if (bg?.autoPromotionSeconds !== undefined) {
      const at = s.previewReadyAt + bg.autoPromotionSeconds * 1000;
      if (now < at) {
        wake.push(at);
        return;
      }
    }
    this.promote(s, spec, world, act, wake, now, 'preview ready');
  }

  // ------------------------------------------------------------------ promote / abort / pause

  /** Scales the new revision to the service's replicas, then switches every request to it. */
  private promote(s: ReleaseState, spec: DesiredService, world: World, act: Act, wake: number[], now: number, why: string): void {
    s.promoting = true;
    s.phase = 'Progressing';
    delete s.message;
    act.event({ type: 'Normal', reason: 'ReleasePromoting', message: `${s.service}: promoting ${s.canaryRevision} (${why})`, service: s.service });
    this.finishPromotion(s, spec, world, act, wake, now);
  }

  private finishPromotion(s: ReleaseState, spec: DesiredService, world: World, act: Act, wake: number[], now: number): void {
    const replicas = effectiveReplicas(world, spec);
    const ready = this.readyCanary(s, world);
    if (ready < replicas) {
      s.message = `promoting: ${ready}/${replicas} instances of ${s.canaryRevision} ready`;
      wake.push(now + 250);
      return;
    }
    this.stopRuns(s, world);
    delete s.promoting;
    delete s.message;
    s.phase = 'Healthy';
    s.weight = 100;
    s.promotedAt = now;
    const delayMs = s.strategy === 'blueGreen' ? (spec.release?.blueGreen?.scaleDownDelaySeconds ?? 30) * 1000 : CANARY_SCALE_DOWN_MS;
    s.scaleDownAt = now + delayMs;
    wake.push(s.scaleDownAt);
    if (s.canaryNumber !== undefined) world.history.setStatus(s.service, s.canaryNumber, 'current', 'promoted');
    if (s.stableNumber !== undefined) world.history.setStatus(s.service, s.stableNumber, 'replaced');
    act.event({ type: 'Normal', reason: 'ReleasePromoted', message: `${s.service}: ${s.canaryRevision} promoted, serving 100%; ${s.stableRevision} stops in ${Math.round(delayMs / 1000)} s`, service: s.service });
  }

  private abort(s: ReleaseState, world: World, act: Act, why: string): void {
    this.stopRuns(s, world);
    s.phase = 'Degraded';
    s.weight = 0;
    s.abortedAt = Date.now();
    s.message = `aborted: ${why}`;
    delete s.promoting;
    delete s.pauseUntil;
    if (s.canaryNumber !== undefined) world.history.setStatus(s.service, s.canaryNumber, 'aborted', 'aborted');
    act.event({ type: 'Warning', reason: 'ReleaseAborted', message: `${s.service}: release of ${s.canaryRevision} aborted (${why}); stable ${s.stableRevision} serves every request`, service: s.service });
  }

  private pause(s: ReleaseState, act: Act, why: string): void {
    s.phase = 'Paused';
    s.message = why;
    act.event({ type: 'Normal', reason: 'ReleasePaused', message: `${s.service}: ${why}`, service: s.service });
  }

  /** Ends the release's runs (background analysis stops at promotion, everything at an abort). */
  private stopRuns(s: ReleaseState, world: World): void {
    for (const id of [s.stepRun, s.backgroundRun]) {
      if (!id) continue;
      this.measuring.get(id)?.abort();
      this.measuring.delete(id);
      const run = loadAnalysisRun(world, id);
      if (run && !isCompleted(run.phase)) saveAnalysisRun(world, terminateRun(run, Date.now()));
    }
    delete s.stepRun;
    delete s.backgroundRun;
  }

  // ------------------------------------------------------------------ analysis runs

  private startRun(s: ReleaseState, world: World, templates: string[], label: string, now: number): string {
    const id = `${s.service}-${s.canaryRevision.slice(0, 8)}-${label}-${now.toString(36)}`;
    const run = newAnalysisRun(id, templates, world.desired?.analysisTemplates ?? {}, { service: s.service, canary: CANARY_VARIANT, stable: 'default' }, now);
    saveAnalysisRun(world, run);
    s.runs = [...s.runs, id].slice(-20);
    return id;
  }

  /** The run as stored; starts its due measurements detached (the release is reconciled again when they end). */
  private poll(s: ReleaseState, id: string, world: World, act: Act, wake: number[]): AnalysisRun | undefined {
    const run = loadAnalysisRun(world, id);
    if (!run || isCompleted(run.phase) || this.measuring.has(id)) return run;
    const due = Math.min(...run.metrics.filter((m) => !isCompleted(m.phase) && m.nextAt !== undefined).map((m) => m.nextAt!));
    if (Number.isFinite(due) && due > Date.now()) {
      wake.push(due);
      return run;
    }
    const stop = new AbortController();
    this.measuring.set(id, stop);
    const service = s.service;
    void this.runner
      .reconcile(run, stop.signal)
      .then((r) => {
        if (stop.signal.aborted) return;
        const now = loadRelease(world, service);
        if (!now || (now.stepRun !== id && now.backgroundRun !== id)) return;
        saveAnalysisRun(world, r.run);
        for (const m of r.run.metrics) {
          const old = run.metrics.find((x) => x.name === m.name);
          const fresh = m.measurements.slice(old ? Math.max(0, m.measurements.length - (m.count + m.error - old.count - old.error)) : 0);
          for (const x of fresh)
            act.event({ type: x.phase === 'Failed' || x.phase === 'Error' ? 'Warning' : 'Normal', reason: 'AnalysisMeasurement', message: `${service}: ${id} ${m.name}: ${x.phase}${x.message ? ` (${x.message})` : ''}`, service });
        }
      })
      .catch((err: unknown) => this.log(`analysis ${id} of ${service}: ${(err as Error).message}`))
      .finally(() => {
        if (this.measuring.get(id) === stop) this.measuring.delete(id);
        act.enqueue('release', service);
      });
    return run;
  }

  // ------------------------------------------------------------------ operations (API)

  promoteCommand(service: string, full: boolean, world: World, act: Act): ReleaseState {
    const s = this.require(service, world);
    const spec = world.spec(service)!;
    if (s.phase === 'Degraded') throw new ReleaseError(`the release of ${service} was aborted; \`berth release retry ${service}\` starts it again`, 409);
    if (s.phase === 'Healthy' || s.promoting) throw new ReleaseError(`${service} ${s.canaryRevision} is already promoted`, 409);
    if (full) {
      this.stopRuns(s, world);
      this.promote(s, spec, world, act, [], Date.now(), 'berth release promote --full');
    } else {
      const steps = spec.release?.canary?.steps ?? [];
      if (s.strategy === 'blueGreen') this.promote(s, spec, world, act, [], Date.now(), 'berth release promote');
      else if (s.step < steps.length) {
        // Argo's promote: the current step (a pause, an analysis, an unfinished weight) is skipped.
        if (s.pendingWeight !== undefined) {
          s.weight = s.pendingWeight;
          s.weightAt = Date.now();
        }
        delete s.pendingWeight;
        if (s.stepRun) {
          this.measuring.get(s.stepRun)?.abort();
          const run = loadAnalysisRun(world, s.stepRun);
          if (run && !isCompleted(run.phase)) saveAnalysisRun(world, terminateRun(run, Date.now()));
        }
        this.advance(s, steps, act, Date.now());
        s.phase = 'Progressing';
      } else s.phase = 'Progressing';
      act.event({ type: 'Normal', reason: 'ReleaseResumed', message: `${service}: resumed by berth release promote`, service });
    }
    this.store(s, world, act);
    return s;
  }

  abortCommand(service: string, world: World, act: Act): ReleaseState {
    const s = this.require(service, world);
    if (s.phase === 'Degraded') return s;
    if (s.phase === 'Healthy') throw new ReleaseError(`${service} ${s.canaryRevision} is promoted: nothing to abort (\`berth release undo\` goes back)`, 409);
    this.abort(s, world, act, 'berth release abort');
    this.store(s, world, act);
    return s;
  }

  retryCommand(service: string, world: World, act: Act): ReleaseState {
    const s = this.require(service, world);
    if (s.phase !== 'Degraded') throw new ReleaseError(`the release of ${service} was not aborted (it is ${s.phase})`, 409);
    const now = Date.now();
    const next: ReleaseState = { ...s, phase: 'Progressing', step: 0, weight: 0, headerRoutes: [], stepStartedAt: now, startedAt: now };
    for (const k of ['message', 'abortedAt', 'canaryScale', 'pauseUntil', 'previewReadyAt', 'pendingWeight'] as const) delete next[k];
    if (s.canaryNumber !== undefined) world.history.setStatus(service, s.canaryNumber, 'progressing');
    act.event({ type: 'Normal', reason: 'ReleaseStarted', message: `${service}: release of ${s.canaryRevision} retried from step 1`, service });
    this.store(next, world, act);
    return next;
  }

  private require(service: string, world: World): ReleaseState {
    const spec = world.spec(service);
    if (!spec) throw new ReleaseError(`no service "${service}" in the running application`, 404);
    const s = loadRelease(world, service);
    if (!s || s.canaryRevision !== spec.revision) throw new ReleaseError(`${service} has no release in progress`, 409);
    return s;
  }

  private store(s: ReleaseState, world: World, act: Act): void {
    saveRelease(world, s);
    this.changed(act, s.service);
    act.enqueue('release', s.service);
  }
}

function describeStep(step: CanaryStepSpec): string {
  if (step.setWeight !== undefined) return `setWeight ${step.setWeight}`;
  if (step.pause) return step.pause.duration !== undefined ? `pause ${step.pause.duration / 1000}s` : 'pause until promoted';
  if (step.setCanaryScale) return 'setCanaryScale';
  if (step.setHeaderRoute) return `setHeaderRoute ${step.setHeaderRoute.name}`;
  if (step.setMirrorRoute) return `setMirrorRoute ${step.setMirrorRoute.name}`;
  if (step.analysis) return `analysis ${step.analysis.templates.join(', ')}`;
  return 'step';
}

/**
 * At `berth apply`: which services start a release. `prev` is the state before. A changed service
 * with a canary or blueGreen strategy starts one (replacing one in progress); going back to the
 * revision stable runs, or to one within `rollbackWindow`, skips the steps. Returns the states to
 * store once the history has numbered the new revisions.
 */
export function releasesForApply(world: World, prev: DesiredState | undefined, next: DesiredState, now = Date.now()): { start: ReleaseState[]; cancel: { service: string; why: string }[]; skipped: { service: string; why: string }[] } {
  const start: ReleaseState[] = [];
  const cancel: { service: string; why: string }[] = [];
  const skipped: { service: string; why: string }[] = [];
  for (const s of next.services) {
    if (s.name.includes('.')) continue;
    const old = prev?.services.find((p) => p.name === s.name);
    const state = loadRelease(world, s.name);
    const inFlight = isActive(state) && state.phase !== 'Healthy' ? state : undefined;
    const strategy = s.release?.strategy ?? 'rolling';
    if (!old || old.revision === s.revision) continue;
    const running = inFlight ? inFlight.stableRevision : old.revision;
    if (strategy === 'rolling' || s.port === undefined) {
      if (inFlight) cancel.push({ service: s.name, why: `the service's strategy is now ${strategy}` });
      continue;
    }
    if (s.revision === running) {
      if (inFlight) cancel.push({ service: s.name, why: `back to the stable revision ${running}` });
      continue;
    }
    const window = s.release?.rollbackWindow?.revisions;
    if (window !== undefined && window > 0) {
      const older = world.history
        .list(s.name)
        .filter((e) => e.revision !== running && (e.status === 'replaced' || e.status === 'current'))
        .slice(-window);
      if (older.some((e) => e.revision === s.revision)) {
        if (inFlight) cancel.push({ service: s.name, why: `rollback to ${s.revision} within the rollback window` });
        skipped.push({ service: s.name, why: `${s.revision} is one of the last ${window} revisions (rollbackWindow): released at once, no steps` });
        continue;
      }
    }
    start.push({
      service: s.name,
      strategy: strategy === 'blueGreen' ? 'blueGreen' : 'canary',
      phase: 'Progressing',
      stableRevision: running,
      canaryRevision: s.revision,
      step: 0,
      weight: 0,
      headerRoutes: [],
      stepStartedAt: now,
      runs: [],
      startedAt: now,
      ...(inFlight ? { replaced: inFlight.canaryRevision } : {}),
    });
  }
  return { start, cancel, skipped };
}
