// Challenge/response authentication with a shared secret: each side proves it knows the
// secret by MACing the other side's fresh nonce; the secret itself never crosses the wire.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export function nonce(): string {
  return randomBytes(16).toString("hex");
}

export function mac(secret: string, ...parts: string[]): string {
  return createHmac("sha256", secret).update(parts.join("|")).digest("hex");
}

export function macOk(expected: string, got: unknown): boolean {
  if (typeof got !== "string" || got.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(expected), Buffer.from(got));
}
