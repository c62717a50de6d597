/**
 * The JagaError a promise rejects with; fails the test when it resolves or rejects otherwise.
 *
 * @example
 * const err = await refusal(ssh.run(["true"]));
 * assert.equal(err.code, "ssh.refused");
 */
import assert from "node:assert/strict";
import { isJagaError, type JagaError } from "../../src/errors.js";

export async function refusal(p: Promise<unknown>): Promise<JagaError> {
  try {
    await p;
  } catch (err) {
    if (isJagaError(err)) return err;
    throw err;
  }
  assert.fail("expected a JagaError");
}
