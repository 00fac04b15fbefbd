// The one error `berth deploy` reports for a failed apply, prune or rollout: a message and a hint.
export class ApplyError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}
