import { SignJWT } from 'jose';
import type { JwtKey } from '../auth/jwt-key.js';

/** What `npm run token` was asked for. */
export interface TokenRequest {
  sub: string;
  admin: boolean;
  /** Lifetime in seconds. */
  ttl: number;
}

export const USAGE = `Mints a development JWT from AUTH_JWT_SECRET (read from the environment or .env).

Usage: npm run -s token -- --sub <user_id> [--admin] [--ttl 1h]

  --sub <user_id>  the Parley user id the token acts as (its "sub" claim)
  --admin          add "admin": true (may create users)
  --ttl <duration> lifetime: seconds, or a number with s, m, h or d (default 1h)

The token is printed alone on stdout. AUTH_JWT_ISSUER / AUTH_JWT_AUDIENCE, when
set, become its "iss" / "aud". Real deployments issue tokens from their identity
system (see docs/authentication.md).`;

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };
const MAX_TTL = 366 * 86_400;

/** `90`, `30s`, `15m`, `1h`, `7d` → seconds; throws on anything else. */
export function parseDuration(value: string): number {
  const m = /^([0-9]{1,9})([smhd]?)$/.exec(value.trim());
  const seconds = m ? Number(m[1]) * UNIT_SECONDS[m[2] || 's'] : NaN;
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_TTL) {
    throw new UsageError(`--ttl ${JSON.stringify(value)}: expected a duration such as 3600, 30m, 1h or 7d (at most 366d)`);
  }
  return seconds;
}

/** A bad command line: the message says what to fix. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Reads `--sub <id> [--admin] [--ttl <duration>]` (also `--sub=<id>`, `--ttl=<duration>`). Null for `--help`. */
export function parseTokenArgs(argv: string[]): TokenRequest | null {
  let sub: string | undefined;
  let admin = false;
  let ttl = 3600;
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].startsWith('--') && argv[i].includes('=') ? argv[i].split(/=(.*)/s, 2) : [argv[i], undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || (inline === undefined && v.startsWith('--'))) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--help':
      case '-h':
        return null;
      case '--sub':
        sub = value();
        break;
      case '--admin':
        if (inline !== undefined) throw new UsageError('--admin takes no value');
        admin = true;
        break;
      case '--ttl':
        ttl = parseDuration(value());
        break;
      default:
        throw new UsageError(`unknown argument ${JSON.stringify(argv[i])}`);
    }
  }
  if (sub === undefined || sub.trim() === '') throw new UsageError('--sub <user_id> is required');
  return { sub, admin, ttl };
}

export interface SigningOptions {
  key: JwtKey;
  issuer?: string;
  audience?: string;
  /** Seconds since the epoch (default: now). */
  now?: number;
}

/** Signs the token with the HS256 secret. */
export async function mintToken(request: TokenRequest, options: SigningOptions): Promise<string> {
  const { key, issuer, audience } = options;
  if (key.alg !== 'HS256') throw new Error('only an HS256 secret can mint tokens here');
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const jwt = new SignJWT(request.admin ? { admin: true } : {})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(request.sub)
    .setIssuedAt(now)
    .setExpirationTime(now + request.ttl);
  if (issuer) jwt.setIssuer(issuer);
  if (audience) jwt.setAudience(audience);
  return jwt.sign(key.key);
}
