import { createPublicKey, type KeyObject } from 'node:crypto';

/**
 * The key that verifies bearer tokens, and the one algorithm it allows. The
 * algorithm follows from the key: a shared secret is HS256, an RSA public key
 * RS256, a P-256 EC public key ES256. Nothing else is accepted, so a token can
 * never pick its own algorithm (`none`, or HS256 keyed with the public key PEM).
 */
export type JwtAlgorithm = 'HS256' | 'RS256' | 'ES256';

export interface JwtKey {
  alg: JwtAlgorithm;
  /** HMAC secret bytes (HS256) or a public KeyObject (RS256, ES256). */
  key: Uint8Array | KeyObject;
  /** The variable the key came from (for messages). */
  variable: 'AUTH_JWT_SECRET' | 'AUTH_JWT_PUBLIC_KEY';
}

export interface JwtKeySource {
  AUTH_JWT_SECRET?: string;
  AUTH_JWT_PUBLIC_KEY?: string;
}

/** A key variable that cannot be used; the message names the variable. */
export class JwtKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JwtKeyError';
  }
}

/** HS256 keys shorter than the hash output (32 bytes) are refused (RFC 7518 §3.2). */
export const MIN_SECRET_BYTES = 32;
const MIN_RSA_BITS = 2048;

/**
 * Reads `AUTH_JWT_SECRET` / `AUTH_JWT_PUBLIC_KEY`: null when neither is set
 * (authentication off). Throws `JwtKeyError` when both are set or the key is unusable.
 */
export function parseJwtKey(source: JwtKeySource): JwtKey | null {
  const secret = source.AUTH_JWT_SECRET;
  const pem = source.AUTH_JWT_PUBLIC_KEY;
  if (secret !== undefined && pem !== undefined) {
    throw new JwtKeyError(
      'AUTH_JWT_SECRET and AUTH_JWT_PUBLIC_KEY are both set; set only one ' +
        '(AUTH_JWT_SECRET for HS256, AUTH_JWT_PUBLIC_KEY for RS256/ES256)',
    );
  }
  if (secret !== undefined) return { alg: 'HS256', key: secretKey(secret), variable: 'AUTH_JWT_SECRET' };
  if (pem !== undefined) return publicKey(pem);
  return null;
}

function secretKey(secret: string): Uint8Array {
  const bytes = new TextEncoder().encode(secret);
  if (bytes.length < MIN_SECRET_BYTES) {
    throw new JwtKeyError(
      `AUTH_JWT_SECRET is ${bytes.length} bytes long; an HS256 secret must be at least ${MIN_SECRET_BYTES} bytes ` +
        '(e.g. `openssl rand -base64 48`)',
    );
  }
  return bytes;
}

/** A PEM given in one line with `\n` escapes (as .env files and container settings often carry it) is accepted too. */
export function normalisePem(value: string): string {
  return value.replace(/\\r/g, '').replace(/\\n/g, '\n').trim();
}

function publicKey(value: string): JwtKey {
  const pem = normalisePem(value);
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    throw new JwtKeyError(
      'AUTH_JWT_PUBLIC_KEY holds a private key; give the server the public key only ' +
        '(`openssl pkey -in private.pem -pubout`)',
    );
  }
  if (!pem.startsWith('-----BEGIN ')) {
    throw new JwtKeyError('AUTH_JWT_PUBLIC_KEY is not a PEM key (expected "-----BEGIN PUBLIC KEY-----" …)');
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new JwtKeyError(`AUTH_JWT_PUBLIC_KEY is not a readable PEM public key: ${why}`);
  }
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (type === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) {
      throw new JwtKeyError(`AUTH_JWT_PUBLIC_KEY is a ${bits}-bit RSA key; RS256 needs at least ${MIN_RSA_BITS} bits`);
    }
    return { alg: 'RS256', key, variable: 'AUTH_JWT_PUBLIC_KEY' };
  }
  if (type === 'ec') {
    if (details.namedCurve !== 'prime256v1') {
      throw new JwtKeyError(
        `AUTH_JWT_PUBLIC_KEY is an EC key on curve ${String(details.namedCurve)}; ES256 needs a P-256 (prime256v1) key`,
      );
    }
    return { alg: 'ES256', key, variable: 'AUTH_JWT_PUBLIC_KEY' };
  }
  throw new JwtKeyError(
    `AUTH_JWT_PUBLIC_KEY is a ${String(type)} key; use an RSA (RS256) or P-256 EC (ES256) public key`,
  );
}
