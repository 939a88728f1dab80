/**
 * Typed errors that say whether trying again can help, in the manner of kafkajs.
 * `retriable` is about the operation; `outcome` says what is known of its effect.
 */
export class PipelineError extends Error {
  readonly retriable: boolean;
  constructor(message: string, options: { retriable: boolean; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.retriable = options.retriable;
  }
}

/** Kafka surely did not take the message (nothing was written): safe to undo the reservation. */
export class ProduceFailedError extends PipelineError {
  constructor(message: string, cause?: unknown) {
    super(message, { retriable: true, cause });
  }
}

/** The send did not finish in time: the broker may still write it. Never treat as lost. */
export class ProduceTimeoutError extends PipelineError {
  constructor(timeoutMs: number, cause?: unknown) {
    super(`Kafka did not acknowledge within ${timeoutMs} ms; outcome unknown`, { retriable: true, cause });
  }
}

/** A dependency (Redis, Kafka, Postgres) cannot serve now. */
export class DependencyUnavailableError extends PipelineError {
  readonly dependency: string;
  constructor(dependency: string, cause?: unknown) {
    super(`${dependency} is unavailable`, { retriable: true, cause });
    this.dependency = dependency;
  }
}

/** Redis lost its memory and the hot counters are not rebuilt yet: wait and try again. */
export class CountersNotReadyError extends PipelineError {
  constructor() {
    super('Redis counters are being rebuilt from Postgres and Kafka', { retriable: true });
  }
}
