/**
 * Runs an async piece of work once: later calls get the same promise. Unlike
 * a plain once, it can be reset, because this agent starts again after a
 * stop, and a settled run can be told apart from one still under way.
 */
export class Once<T> {
  private promise: Promise<T> | undefined = undefined
  private done = false

  /** The first call runs `work`; every call until `reset()` returns its promise. */
  call(work: () => Promise<T>): Promise<T> {
    if (this.promise !== undefined) return this.promise
    const promise: Promise<T> = work().finally(() => {
      // A run from before a reset does not mark the next one done.
      if (this.promise === promise) this.done = true
    })
    this.promise = promise
    return promise
  }

  /** Whether it ran (or runs) since the last reset. */
  get called(): boolean {
    return this.promise !== undefined
  }

  /** Whether the run since the last reset has finished. */
  get settled(): boolean {
    return this.done
  }

  reset(): void {
    this.promise = undefined
    this.done = false
  }
}
