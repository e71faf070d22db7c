/**
 * Collapses concurrent calls into one in-flight operation: fifty API calls that all find the
 * access token stale cause one refresh request, and all fifty await its outcome.
 */
export class SingleFlight<T> {
  #inFlight: Promise<T> | undefined;

  run(operation: () => Promise<T>): Promise<T> {
    if (this.#inFlight === undefined) {
      const started = (async () => operation())();
      this.#inFlight = started;
      // Cleared on settle so the next stale token starts a new flight rather than reusing a result.
      const clear = () => {
        if (this.#inFlight === started) this.#inFlight = undefined;
      };
      started.then(clear, clear);
    }
    return this.#inFlight;
  }
}
