/**
 * The step list behind the `progress` query. Deterministic: times come from workflow time, and the
 * tracker only records what the workflow itself decided.
 */
import type { Progress, StepProgress, StepStatus } from '../domain/index.ts';

/** One tracked step: the public {@link StepProgress} plus the step kind it ran (e.g. `ensure-bucket`). */
export interface TrackedStep extends StepProgress {
  readonly kind: string;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type AwaitingApproval = NonNullable<Progress['awaitingApproval']>;

/** Workflow phases shown by `progress.phase`. */
export const Phase = {
  validating: 'validating',
  waitingForLock: 'waiting-for-lock',
  planning: 'planning',
  provisioning: 'provisioning',
  delivering: 'delivering',
  verifying: 'verifying',
  awaitingApproval: 'awaiting-approval',
  rollingBack: 'rolling-back',
  adopting: 'adopting',
  scanning: 'scanning',
  remediating: 'remediating',
  succeeded: 'succeeded',
  rolledBack: 'rolled-back',
  rollbackFailed: 'rollback-failed',
  planned: 'planned',
  failed: 'failed',
  cancelled: 'cancelled',
} as const;
export type Phase = (typeof Phase)[keyof typeof Phase];

const now = (): string => new Date().toISOString();

/**
 * Records the phase and every step of one workflow run. Steps can be planned up front (status `pending`,
 * named by their title) and are filled in when they run; steps that never ran end as `skipped`.
 */
export class ProgressTracker {
  #phase: Phase = Phase.validating;
  readonly #steps: Mutable<TrackedStep>[] = [];
  #awaiting: AwaitingApproval | undefined;
  #finished = false;

  /** The current phase. */
  get phase(): Phase {
    return this.#phase;
  }

  /** Moves to a new phase. */
  setPhase(phase: Phase): void {
    this.#phase = phase;
  }

  /** Adds pending steps, in order, after what is already listed. */
  plan(entries: readonly { kind: string; name: string }[]): void {
    for (const e of entries) this.#steps.push({ kind: e.kind, name: e.name, status: 'pending' });
  }

  /**
   * Marks a step running and returns its index. Takes the first pending step of the same kind when one was
   * planned; otherwise inserts the step before the first pending one, so the list stays in execution order.
   */
  start(kind: string, name: string, detail?: string): number {
    const planned = this.#steps.findIndex((s) => s.status === 'pending' && s.kind === kind);
    const step: Mutable<TrackedStep> = { kind, name, status: 'running', startedAt: now() };
    if (detail !== undefined) step.detail = detail;
    if (planned >= 0) {
      this.#steps[planned] = step;
      return planned;
    }
    const firstPending = this.#steps.findIndex((s) => s.status === 'pending');
    const at = firstPending < 0 ? this.#steps.length : firstPending;
    this.#steps.splice(at, 0, step);
    return at;
  }

  /**
   * Starts a step that runs beside the others (a notification) and returns how to end it: the step is held by
   * reference, so steps inserted meanwhile cannot make the wrong one end.
   */
  startBeside(kind: string, name: string): (status: Exclude<StepStatus, 'pending' | 'running'>, detail?: string) => void {
    const index = this.start(kind, name);
    const step = this.#steps[index];
    return (status, detail) => {
      if (!step) return;
      step.status = status;
      step.endedAt = now();
      if (detail !== undefined) step.detail = detail;
    };
  }

  /** Updates the detail of a running step (e.g. the lock holder it waits for). */
  note(index: number, detail: string): void {
    const step = this.#steps[index];
    if (step) step.detail = detail;
  }

  /** Ends a step with a status and an optional detail. */
  end(index: number, status: Exclude<StepStatus, 'pending' | 'running'>, detail?: string): void {
    const step = this.#steps[index];
    if (!step) return;
    step.status = status;
    step.endedAt = now();
    if (detail !== undefined) step.detail = detail;
  }

  /** Records a step that is deliberately not run, with the reason. */
  skip(kind: string, name: string, reason: string): void {
    const i = this.start(kind, name);
    this.end(i, 'skipped', reason);
  }

  /** Shows (or clears) what approval the workflow is waiting for. */
  setAwaitingApproval(value: AwaitingApproval | undefined): void {
    this.#awaiting = value;
  }

  /** True once {@link finish} ran. */
  get finished(): boolean {
    return this.#finished;
  }

  /** Marks every pending step skipped, with a reason (e.g. before a rollback takes over). */
  skipPending(reason: string): void {
    for (const s of this.#steps) {
      if (s.status === 'pending') {
        s.status = 'skipped';
        s.detail = reason;
      }
    }
  }

  /** Ends the run: sets the final phase and marks steps that never ran as skipped. */
  finish(phase: Phase): void {
    this.#finished = true;
    this.#phase = phase;
    this.#awaiting = undefined;
    for (const s of this.#steps) {
      if (s.status === 'pending') s.status = 'skipped';
      if (s.status === 'running') {
        s.status = phase === Phase.cancelled ? 'skipped' : 'failed';
        s.endedAt = now();
      }
    }
  }

  /** A copy of every step with its kind, in order (what the evidence record reads its gates and times from). */
  trackedSteps(): readonly TrackedStep[] {
    return this.#steps.map((s) => ({ ...s }));
  }

  /** A copy of the current state, as the `progress` query returns it. */
  snapshot(): Progress {
    const steps = this.#steps.map((s) => ({ ...s }));
    return this.#awaiting
      ? { phase: this.#phase, steps, awaitingApproval: this.#awaiting }
      : { phase: this.#phase, steps };
  }
}
