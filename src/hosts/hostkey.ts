/**
 * Host key fingerprints, in the one format an admin can check by hand: what
 * `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` prints on the server (`SHA256:` and the
 * unpadded base64 of the SHA-256 of the public key blob).
 *
 * @example
 * fingerprint(keyBlob); // "SHA256:5Etu41LE6H6Dq2VHeHbR8HBI3X6gxeGlD1goOc+xdYk"
 */
import { createHash } from "node:crypto";

/**
 * The fingerprint of a raw SSH public key blob (the form ssh2's hostVerifier receives).
 *
 * @example
 * fingerprint(Buffer.from(base64PartOfPubFile, "base64"));
 */
export function fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash("sha256").update(keyBlob).digest("base64").replace(/=+$/, "")}`;
}

/**
 * Compares two fingerprints, tolerating the `=` padding some tools print.
 *
 * @example
 * sameFingerprint("SHA256:abc", "SHA256:abc="); // true
 */
export function sameFingerprint(a: string, b: string): boolean {
  return a.replace(/=+$/, "") === b.replace(/=+$/, "");
}
