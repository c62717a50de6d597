/**
 * Writes of shared state under the term this instance holds: the epoch they carry, and what a
 * refusal means. One home for the rule the shared outbox and the shared desk both follow.
 *
 * @example
 * const term: TermSource = { epoch: () => keeper.currentEpoch(), onFenced: (d) => keeper.fenced(d) };
 * await underTerm(term, "outbox enqueue", (epoch) => db.value("jaga_outbox_enqueue", { p_epoch: epoch, … }));
 */
import { FencedError, NotActiveError } from "./errors.js";

export { NotActiveError };

/** Where a writer learns the term it holds, and tells that the database refused it. */
export interface TermSource {
  /** The epoch held now, or null when this instance is not active. */
  epoch(): number | null;
  /** A write was refused by fencing: the lease is someone else's. */
  onFenced?(detail: string): void;
}


/**
 * Runs one write under the epoch held now: {@link NotActiveError} with no term; a refusal by
 * fencing ({@link FencedError}) is told to `onFenced` (the keeper gives the lease up) and thrown.
 */
export async function underTerm<T>(term: TermSource, what: string, call: (epoch: number) => Promise<T>): Promise<T> {
  const epoch = term.epoch();
  if (epoch === null) throw new NotActiveError(what);
  try {
    return await call(epoch);
  } catch (err) {
    if (err instanceof FencedError) term.onFenced?.(err.message);
    throw err;
  }
}
