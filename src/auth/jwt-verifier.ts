import { errors, jwtVerify } from 'jose';
import { DomainError, ErrorCode } from '../common/errors/domain-error.js';
import type { Identity } from './identity.js';
import type { JwtKey } from './jwt-key.js';

export interface JwtVerifierOptions {
  key: JwtKey;
  /** Required `iss` when set. */
  issuer?: string;
  /** Required `aud` (one of the token's audiences) when set. */
  audience?: string;
  /** Seconds of leeway for `exp` and `nbf`. */
  clockSkew: number;
}

export function unauthenticated(detail: string): DomainError {
  return new DomainError(ErrorCode.Unauthenticated, detail);
}

/**
 * Verifies compact JWS bearer tokens with `jose`: the signature with the one
 * configured key and algorithm (never the token's own choice), then `exp`
 * (required), `nbf`, `iss` and `aud` (when configured) and `sub` (required).
 * Every refusal is a `DomainError` (Unauthenticated) with a short reason.
 */
export class JwtVerifier {
  constructor(private readonly options: JwtVerifierOptions) {}

  get algorithm(): string {
    return this.options.key.alg;
  }

  /** Seconds of leeway applied to `exp` and `nbf`. */
  get clockSkew(): number {
    return this.options.clockSkew;
  }

  async verify(token: string, now: Date = new Date()): Promise<Identity> {
    const { key, issuer, audience, clockSkew } = this.options;
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, key.key, {
        algorithms: [key.alg],
        issuer,
        audience,
        clockTolerance: clockSkew,
        requiredClaims: ['exp', 'sub'],
        currentDate: now,
      }));
    } catch (err) {
      throw unauthenticated(reasonOf(err));
    }
    const { sub, exp, admin } = payload;
    if (typeof sub !== 'string' || sub === '') throw unauthenticated('Token has no valid sub claim');
    if (typeof exp !== 'number' || !Number.isFinite(exp)) throw unauthenticated('Token has no valid exp claim');
    return { sub, admin: admin === true, exp };
  }
}

const CLAIM_REASONS: Record<string, string> = {
  nbf: 'Token not yet valid',
  iss: 'Token issuer not accepted',
  aud: 'Token audience not accepted',
};

/** A short, client-safe reason for a refused token (never the key or the payload). */
function reasonOf(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'Token expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.reason === 'missing' || err.reason === 'invalid') {
      return `Token has no valid ${err.claim} claim`;
    }
    return CLAIM_REASONS[err.claim] ?? 'Invalid token';
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return 'Token algorithm not accepted';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'Invalid token signature';
  return 'Invalid token';
}
