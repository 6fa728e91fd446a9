import { Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { DomainError, ErrorCode } from '../common/errors/domain-error.js';
import type { Env } from '../config/env.schema.js';
import type { Identity } from './identity.js';
import { parseJwtKey } from './jwt-key.js';
import { JwtVerifier, unauthenticated } from './jwt-verifier.js';

/** Longest delay a Node timer takes (about 24.8 days); longer waits are chained. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The bearer scheme is case-insensitive (RFC 7235); the token is one base64url/dot word. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

export function forbidden(detail: string): DomainError {
  return new DomainError(ErrorCode.Forbidden, detail);
}

/**
 * Every authentication and authorisation rule, for REST and the socket alike.
 * Off (no `AUTH_JWT_SECRET` / `AUTH_JWT_PUBLIC_KEY`): `enabled` is false and
 * nothing here is consulted. Throws `DomainError` only: Unauthenticated (401 /
 * close 4401) or Forbidden (403 / close 4403).
 */
@Injectable()
export class AuthService {
  private readonly logger = new Logger('Auth');
  private readonly verifier: JwtVerifier | null;

  constructor(config: ConfigService<Env, true>) {
    const key = parseJwtKey({
      AUTH_JWT_SECRET: config.get('AUTH_JWT_SECRET', { infer: true }),
      AUTH_JWT_PUBLIC_KEY: config.get('AUTH_JWT_PUBLIC_KEY', { infer: true }),
    });
    const issuer = config.get('AUTH_JWT_ISSUER', { infer: true });
    const audience = config.get('AUTH_JWT_AUDIENCE', { infer: true });
    const clockSkew = config.get('AUTH_CLOCK_SKEW', { infer: true });
    this.verifier = key ? new JwtVerifier({ key, issuer, audience, clockSkew }) : null;
    if (key) {
      this.logger.log(
        `JWT authentication on: ${key.alg} (${key.variable})` +
          `${issuer ? `, issuer ${issuer}` : ''}${audience ? `, audience ${audience}` : ''}, clock skew ${clockSkew} s`,
      );
    } else if (issuer || audience) {
      this.logger.warn(
        'AUTH_JWT_ISSUER / AUTH_JWT_AUDIENCE are set but neither AUTH_JWT_SECRET nor AUTH_JWT_PUBLIC_KEY is: ' +
          'authentication is OFF',
      );
    }
  }

  /** Authentication is on (a key is configured). */
  get enabled(): boolean {
    return this.verifier !== null;
  }

  /** REST: the identity behind an `Authorization: Bearer <jwt>` header value. */
  authenticateHeader(header: string | undefined): Promise<Identity> {
    if (header === undefined || header.trim() === '') return Promise.reject(unauthenticated('Missing bearer token'));
    const m = BEARER.exec(header.trim());
    if (!m) return Promise.reject(unauthenticated('Authorization header must be "Bearer <token>"'));
    return this.authenticateToken(m[1]);
  }

  /** The identity behind a bare token (the socket's `?token=`). */
  authenticateToken(token: string | undefined): Promise<Identity> {
    if (!this.verifier) return Promise.reject(new Error('authentication is off'));
    if (token === undefined || token === '') return Promise.reject(unauthenticated('Missing bearer token'));
    return this.verifier.verify(token);
  }

  /** Acting as `userId` (sending as them, connecting as them) needs `sub` = `userId`. */
  assertActsAs(identity: Identity, userId: unknown): void {
    if (userId !== identity.sub) throw forbidden('Token subject does not match user_id');
  }

  /** Creating users needs the claim `"admin": true`. */
  assertAdmin(identity: Identity): void {
    if (!identity.admin) throw forbidden('Creating users requires an admin token');
  }

  /**
   * Socket: the identity allowed to connect as `userId`, or null when auth is off.
   * Missing/bad/expired token → Unauthenticated; another user's token → Forbidden.
   */
  async authorizeSocket(token: string | undefined, userId: string): Promise<Identity | null> {
    if (!this.verifier) return null;
    const identity = await this.authenticateToken(token);
    this.assertActsAs(identity, userId);
    return identity;
  }

  /** When a verified token stops being accepted (ms since the epoch): `exp` plus the clock skew. */
  expiresAt(identity: Identity): number {
    return (identity.exp + (this.verifier?.clockSkew ?? 0)) * 1000;
  }

  /**
   * Calls `onExpired` once the token is no longer accepted (see `expiresAt`).
   * Returns the cancel function; the caller cancels it when the connection closes.
   */
  watchExpiry(identity: Identity, onExpired: () => void): () => void {
    const deadline = this.expiresAt(identity);
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      const left = deadline - Date.now();
      if (left <= 0) {
        timer = undefined;
        onExpired();
        return;
      }
      timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
      timer.unref();
    };
    arm();
    return () => {
      if (timer) clearTimeout(timer);
      timer = undefined;
    };
  }
}
