/**
 * The two ways a write under a term is refused, in a module of their own: whoever only tells
 * them apart needs no database client.
 *
 * @example
 * if (err instanceof FencedError || err instanceof NotActiveError) return; // not ours any more
 */

/** The database refused a write: it was made under an epoch that is no longer the lease's. */
export class FencedError extends Error {
  readonly code = "PT409";
  constructor(message: string) {
    super(message);
    this.name = "FencedError";
  }
}

/** A write was attempted with no term held: it never reached the database. */
export class NotActiveError extends Error {
  constructor(what: string) {
    super(`standby: ${what} not written, this instance does not hold the lease`);
    this.name = "NotActiveError";
  }
}
