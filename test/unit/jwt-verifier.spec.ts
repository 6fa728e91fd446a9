import { jest } from '@jest/globals';
import { createHmac, createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { base64url, type CryptoKey, exportPKCS8, exportSPKI, generateKeyPair, type JWTPayload, SignJWT, UnsecuredJWT } from 'jose';
import { AuthService } from '../../src/auth/auth.service.js';
import type { Identity } from '../../src/auth/identity.js';
import { type JwtKey, JwtKeyError, parseJwtKey } from '../../src/auth/jwt-key.js';
import { JwtVerifier } from '../../src/auth/jwt-verifier.js';
import { DomainError, ErrorCode } from '../../src/common/errors/domain-error.js';
import { ConfigError, validateEnv } from '../../src/config/env.schema.js';

/**
 * The verifier behind REST and WebSocket authentication, with keys made here:
 * HS256 secrets, RS256 keys from jose's generateKeyPair, ES256 keys from node:crypto.
 */

const SECRET = 'unit-test-secret-0123456789abcdef-0123456789';
const now = () => Math.floor(Date.now() / 1000);

type Alg = 'HS256' | 'RS256' | 'ES256';

interface Fixture {
  alg: Alg;
  /** What the server is configured with. */
  env: { AUTH_JWT_SECRET?: string; AUTH_JWT_PUBLIC_KEY?: string };
  /** Signs like the operator's identity system does. */
  signingKey: KeyObject | CryptoKey | Uint8Array;
  /** The public PEM (RS256 / ES256), for the algorithm-confusion attack. */
  publicPem?: string;
  /** The private key as a KeyObject (not bound to one hash, unlike a CryptoKey). */
  privateKeyObject?: KeyObject;
}

let fixtures: Record<Alg, Fixture>;

beforeAll(async () => {
  const rsa = await generateKeyPair('RS256', { extractable: true });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rsaPem = await exportSPKI(rsa.publicKey);
  const ecPem = ec.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  fixtures = {
    HS256: { alg: 'HS256', env: { AUTH_JWT_SECRET: SECRET }, signingKey: new TextEncoder().encode(SECRET) },
    RS256: {
      alg: 'RS256',
      env: { AUTH_JWT_PUBLIC_KEY: rsaPem },
      signingKey: rsa.privateKey,
      publicPem: rsaPem,
      privateKeyObject: createPrivateKey(await exportPKCS8(rsa.privateKey)),
    },
    ES256: { alg: 'ES256', env: { AUTH_JWT_PUBLIC_KEY: ecPem }, signingKey: ec.privateKey, publicPem: ecPem },
  };
});

function sign(
  f: Fixture,
  claims: JWTPayload,
  header: Record<string, unknown> = {},
  key: KeyObject | CryptoKey | Uint8Array = f.signingKey,
): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: f.alg, typ: 'JWT', ...header }).sign(key);
}

function verifierFor(f: Fixture, options: { issuer?: string; audience?: string; clockSkew?: number } = {}): JwtVerifier {
  const key = parseJwtKey(f.env) as JwtKey;
  return new JwtVerifier({ key, clockSkew: options.clockSkew ?? 30, issuer: options.issuer, audience: options.audience });
}

/** The refusal of `promise`: a DomainError with the Unauthenticated code; answers its message. */
async function refusal(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DomainError);
  expect((err as DomainError).code).toBe(ErrorCode.Unauthenticated);
  return (err as DomainError).message;
}

/** A compact JWS with one character of its signature changed. */
function tamperSignature(token: string): string {
  const [h, p, s] = token.split('.');
  const flipped = s[5] === 'A' ? 'B' : 'A';
  return `${h}.${p}.${s.slice(0, 5)}${flipped}${s.slice(6)}`;
}

/** The same token with its payload swapped for `claims` (signature kept). */
function swapPayload(token: string, claims: JWTPayload): string {
  const [h, , s] = token.split('.');
  return `${h}.${base64url.encode(JSON.stringify(claims))}.${s}`;
}

function hs256WithRawKey(claims: JWTPayload, key: string): string {
  const h = base64url.encode(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const p = base64url.encode(JSON.stringify(claims));
  const sig = createHmac('sha256', key).update(`${h}.${p}`).digest('base64url');
  return `${h}.${p}.${sig}`;
}

describe(parseJwtKey.name, () => {
  it('answers null (authentication off) when neither variable is set', () => {
    expect(parseJwtKey({})).toBeNull();
  });

  it('reads AUTH_JWT_SECRET as an HS256 key', () => {
    const key = parseJwtKey({ AUTH_JWT_SECRET: SECRET });
    expect(key?.alg).toBe('HS256');
    expect(key?.variable).toBe('AUTH_JWT_SECRET');
  });

  it('infers RS256 from an RSA key and ES256 from a P-256 key', () => {
    expect(parseJwtKey(fixtures.RS256.env)?.alg).toBe('RS256');
    expect(parseJwtKey(fixtures.ES256.env)?.alg).toBe('ES256');
  });

  it('accepts a PEM written on one line with \\n escapes (as .env files carry it)', () => {
    const oneLine = (fixtures.ES256.publicPem ?? '').trim().replace(/\n/g, '\\n');
    expect(oneLine).not.toContain('\n');
    expect(parseJwtKey({ AUTH_JWT_PUBLIC_KEY: oneLine })?.alg).toBe('ES256');
  });

  it.each([
    ['both variables', () => ({ AUTH_JWT_SECRET: SECRET, AUTH_JWT_PUBLIC_KEY: fixtures.RS256.publicPem }), /AUTH_JWT_SECRET and AUTH_JWT_PUBLIC_KEY/],
    ['a 31-byte secret', () => ({ AUTH_JWT_SECRET: 'x'.repeat(31) }), /AUTH_JWT_SECRET .*at least 32 bytes/],
    ['a PEM that is garbage', () => ({ AUTH_JWT_PUBLIC_KEY: '-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----' }), /AUTH_JWT_PUBLIC_KEY/],
    ['something that is no PEM', () => ({ AUTH_JWT_PUBLIC_KEY: 'ssh-rsa AAAAB3Nza' }), /AUTH_JWT_PUBLIC_KEY is not a PEM/],
    [
      'a private key',
      () => ({
        AUTH_JWT_PUBLIC_KEY: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      }),
      /AUTH_JWT_PUBLIC_KEY holds a private key/,
    ],
    [
      'a 1024-bit RSA key',
      () => ({
        AUTH_JWT_PUBLIC_KEY: generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      }),
      /AUTH_JWT_PUBLIC_KEY is a 1024-bit RSA key/,
    ],
    [
      'a P-384 key',
      () => ({
        AUTH_JWT_PUBLIC_KEY: generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      }),
      /AUTH_JWT_PUBLIC_KEY .*P-256/,
    ],
    [
      'an Ed25519 key',
      () => ({ AUTH_JWT_PUBLIC_KEY: generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString() }),
      /AUTH_JWT_PUBLIC_KEY is a ed25519 key/,
    ],
  ])('refuses %s, naming the variable', (_what, source, message) => {
    expect(() => parseJwtKey(source())).toThrow(JwtKeyError);
    expect(() => parseJwtKey(source())).toThrow(message);
  });
});

describe('validateEnv (authentication variables)', () => {
  function configErrorOf(raw: Record<string, string>): string {
    try {
      validateEnv(raw);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as Error).message;
    }
    throw new Error('expected a ConfigError, nothing was thrown');
  }

  it('leaves authentication off by default, with a 30 s clock skew', () => {
    const env = validateEnv({});
    expect(env.AUTH_JWT_SECRET).toBeUndefined();
    expect(env.AUTH_JWT_PUBLIC_KEY).toBeUndefined();
    expect(env.AUTH_CLOCK_SKEW).toBe(30);
  });

  it('keeps the key, issuer, audience and skew as given', () => {
    const env = validateEnv({
      AUTH_JWT_PUBLIC_KEY: fixtures.RS256.publicPem ?? '',
      AUTH_JWT_ISSUER: 'https://id.example.com/',
      AUTH_JWT_AUDIENCE: 'parley',
      AUTH_CLOCK_SKEW: '5',
    });
    expect(env.AUTH_JWT_PUBLIC_KEY).toBe(fixtures.RS256.publicPem);
    expect(env.AUTH_JWT_ISSUER).toBe('https://id.example.com/');
    expect(env.AUTH_JWT_AUDIENCE).toBe('parley');
    expect(env.AUTH_CLOCK_SKEW).toBe(5);
  });

  it('stops at boot with a ConfigError naming the variable for a bad key or skew', () => {
    expect(configErrorOf({ AUTH_JWT_SECRET: SECRET, AUTH_JWT_PUBLIC_KEY: fixtures.ES256.publicPem ?? '' })).toMatch(
      /AUTH_JWT_SECRET and AUTH_JWT_PUBLIC_KEY are both set/,
    );
    expect(configErrorOf({ AUTH_JWT_SECRET: 'short' })).toMatch(/AUTH_JWT_SECRET/);
    expect(configErrorOf({ AUTH_JWT_PUBLIC_KEY: 'nonsense' })).toMatch(/AUTH_JWT_PUBLIC_KEY/);
    expect(configErrorOf({ AUTH_CLOCK_SKEW: '301' })).toMatch(/AUTH_CLOCK_SKEW/);
    expect(configErrorOf({ AUTH_CLOCK_SKEW: '-1' })).toMatch(/AUTH_CLOCK_SKEW/);
  });

  it('never echoes the secret in its message', () => {
    const secret = 'too-short-secret';
    expect(configErrorOf({ AUTH_JWT_SECRET: secret })).not.toContain(secret);
  });
});

describe.each(['HS256', 'RS256', 'ES256'] as const)(`${JwtVerifier.name} (%s)`, (alg) => {
  let f: Fixture;
  let verifier: JwtVerifier;

  beforeAll(() => {
    f = fixtures[alg];
    verifier = verifierFor(f);
  });

  it('accepts a good token and answers its sub, admin flag and exp', async () => {
    const exp = now() + 600;
    await expect(verifier.verify(await sign(f, { sub: 'user-1', exp }))).resolves.toEqual({
      sub: 'user-1',
      admin: false,
      exp,
    });
    const admin = await verifier.verify(await sign(f, { sub: 'root', exp, admin: true }));
    expect(admin.admin).toBe(true);
  });

  it('grants admin only for the boolean true', async () => {
    for (const admin of ['true', 1, 'yes', [true], { admin: true }]) {
      const identity = await verifier.verify(await sign(f, { sub: 'u', exp: now() + 60, admin }));
      expect(identity.admin).toBe(false);
    }
  });

  it('refuses a token whose signature was tampered with', async () => {
    const token = await sign(f, { sub: 'user-1', exp: now() + 600 });
    expect(await refusal(verifier.verify(tamperSignature(token)))).toMatch(/Invalid token/);
  });

  it('refuses a token whose payload was changed after signing (another sub, admin added)', async () => {
    const exp = now() + 600;
    const token = await sign(f, { sub: 'user-1', exp });
    expect(await refusal(verifier.verify(swapPayload(token, { sub: 'user-2', exp })))).toBe('Invalid token signature');
    expect(await refusal(verifier.verify(swapPayload(token, { sub: 'user-1', exp, admin: true })))).toBe(
      'Invalid token signature',
    );
  });

  it('refuses a token signed with another key', async () => {
    const other =
      alg === 'HS256'
        ? new TextEncoder().encode(`${SECRET}-other`)
        : (await generateKeyPair(alg)).privateKey;
    const token = await sign(f, { sub: 'user-1', exp: now() + 600 }, {}, other);
    expect(await refusal(verifier.verify(token))).toBe('Invalid token signature');
  });

  it('refuses an unsecured token (alg "none"), with or without a signature part', async () => {
    const unsecured = new UnsecuredJWT({ sub: 'user-1', exp: now() + 600 }).encode();
    expect(unsecured.endsWith('.')).toBe(true);
    await refusal(verifier.verify(unsecured));
    const signed = await sign(f, { sub: 'user-1', exp: now() + 600 });
    const [, p, s] = signed.split('.');
    const noneHeader = base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }));
    await refusal(verifier.verify(`${noneHeader}.${p}.${s}`));
    await refusal(verifier.verify(`${noneHeader}.${p}.`));
  });

  it('refuses an expired token, and honours the clock skew', async () => {
    expect(await refusal(verifier.verify(await sign(f, { sub: 'u', exp: now() - 31 })))).toBe('Token expired');
    // Within the 30 s skew: still accepted.
    await expect(verifier.verify(await sign(f, { sub: 'u', exp: now() - 10 }))).resolves.toMatchObject({ sub: 'u' });
    const strict = verifierFor(f, { clockSkew: 0 });
    expect(await refusal(strict.verify(await sign(f, { sub: 'u', exp: now() - 1 })))).toBe('Token expired');
  });

  it('refuses a token that is not yet valid (nbf), and honours the clock skew', async () => {
    const exp = now() + 600;
    expect(await refusal(verifier.verify(await sign(f, { sub: 'u', exp, nbf: now() + 120 })))).toBe('Token not yet valid');
    await expect(verifier.verify(await sign(f, { sub: 'u', exp, nbf: now() + 10 }))).resolves.toMatchObject({ sub: 'u' });
  });

  it('requires exp', async () => {
    expect(await refusal(verifier.verify(await sign(f, { sub: 'u' })))).toBe('Token has no valid exp claim');
    await refusal(verifier.verify(await sign(f, { sub: 'u', exp: 'tomorrow' as unknown as number })));
  });

  it('requires a non-empty string sub', async () => {
    const exp = now() + 600;
    expect(await refusal(verifier.verify(await sign(f, { exp })))).toBe('Token has no valid sub claim');
    await refusal(verifier.verify(await sign(f, { exp, sub: '' })));
    await refusal(verifier.verify(await sign(f, { exp, sub: 42 as unknown as string })));
  });

  it('checks the issuer and the audience when configured', async () => {
    const strict = verifierFor(f, { issuer: 'https://id.example.com/', audience: 'parley' });
    const exp = now() + 600;
    const good = { sub: 'u', exp, iss: 'https://id.example.com/', aud: 'parley' };
    await expect(strict.verify(await sign(f, good))).resolves.toMatchObject({ sub: 'u' });
    await expect(strict.verify(await sign(f, { ...good, aud: ['other', 'parley'] }))).resolves.toMatchObject({ sub: 'u' });
    expect(await refusal(strict.verify(await sign(f, { ...good, iss: 'https://evil.example.com/' })))).toBe(
      'Token issuer not accepted',
    );
    expect(await refusal(strict.verify(await sign(f, { ...good, aud: 'other-app' })))).toBe('Token audience not accepted');
    await refusal(strict.verify(await sign(f, { sub: 'u', exp, aud: 'parley' })));
    await refusal(strict.verify(await sign(f, { sub: 'u', exp, iss: 'https://id.example.com/' })));
    // Not configured: not checked.
    await expect(verifier.verify(await sign(f, { ...good, iss: 'anyone', aud: 'anything' }))).resolves.toMatchObject({
      sub: 'u',
    });
  });

  it.each(['', 'garbage', 'a.b.c', 'a.b', '...', 'eyJhbGciOiJIUzI1NiJ9.e30.'])('refuses the malformed token %j', async (token) => {
    expect(await refusal(verifier.verify(token))).toMatch(/token/i);
  });
});

describe('algorithm pinning', () => {
  it('refuses an HS256 token signed with the RS256 public key PEM as the secret', async () => {
    const f = fixtures.RS256;
    const verifier = verifierFor(f);
    const pem = f.publicPem ?? '';
    const claims = { sub: 'attacker', exp: now() + 600, admin: true };
    expect(await refusal(verifier.verify(hs256WithRawKey(claims, pem)))).toBe('Token algorithm not accepted');
    expect(await refusal(verifier.verify(hs256WithRawKey(claims, pem.trim())))).toBe('Token algorithm not accepted');
  });

  it('refuses an HS256 token signed with the ES256 public key PEM as the secret', async () => {
    const f = fixtures.ES256;
    const token = hs256WithRawKey({ sub: 'attacker', exp: now() + 600 }, f.publicPem ?? '');
    expect(await refusal(verifierFor(f).verify(token))).toBe('Token algorithm not accepted');
  });

  it('refuses RS256 and ES256 tokens on an HS256 server, and RS384 on an RS256 server', async () => {
    const claims = { sub: 'u', exp: now() + 600 };
    const hs = verifierFor(fixtures.HS256);
    expect(await refusal(hs.verify(await sign(fixtures.RS256, claims)))).toBe('Token algorithm not accepted');
    expect(await refusal(hs.verify(await sign(fixtures.ES256, claims)))).toBe('Token algorithm not accepted');
    // The server's own RSA key pair, only the algorithm differs.
    const rsaKey = fixtures.RS256.privateKeyObject as KeyObject;
    const rs384 = await new SignJWT(claims).setProtectedHeader({ alg: 'RS384' }).sign(rsaKey);
    const ps256 = await new SignJWT(claims).setProtectedHeader({ alg: 'PS256' }).sign(rsaKey);
    expect(await refusal(verifierFor(fixtures.RS256).verify(rs384))).toBe('Token algorithm not accepted');
    expect(await refusal(verifierFor(fixtures.RS256).verify(ps256))).toBe('Token algorithm not accepted');
  });

  it('refuses an ES256 token on an RS256 server and the reverse', async () => {
    const claims = { sub: 'u', exp: now() + 600 };
    expect(await refusal(verifierFor(fixtures.RS256).verify(await sign(fixtures.ES256, claims)))).toBe(
      'Token algorithm not accepted',
    );
    expect(await refusal(verifierFor(fixtures.ES256).verify(await sign(fixtures.RS256, claims)))).toBe(
      'Token algorithm not accepted',
    );
  });
});

describe(AuthService.name, () => {
  function service(values: Record<string, unknown>): AuthService {
    const all: Record<string, unknown> = { AUTH_CLOCK_SKEW: 30, ...values };
    const config = { get: (key: string) => all[key] };
    return new AuthService(config as never);
  }

  it('is off without a key, and then lets sockets in without a token', async () => {
    const auth = service({});
    expect(auth.enabled).toBe(false);
    await expect(auth.authorizeSocket(undefined, 'anyone')).resolves.toBeNull();
  });

  it('reads "Authorization: Bearer <jwt>", the scheme case-insensitively', async () => {
    const auth = service({ AUTH_JWT_SECRET: SECRET });
    expect(auth.enabled).toBe(true);
    const token = await sign(fixtures.HS256, { sub: 'alice', exp: now() + 60 });
    await expect(auth.authenticateHeader(`Bearer ${token}`)).resolves.toMatchObject({ sub: 'alice' });
    await expect(auth.authenticateHeader(`bearer ${token}`)).resolves.toMatchObject({ sub: 'alice' });
    expect(await refusal(auth.authenticateHeader(undefined))).toBe('Missing bearer token');
    expect(await refusal(auth.authenticateHeader('  '))).toBe('Missing bearer token');
    for (const bad of [`Basic ${token}`, 'Bearer', `Bearer ${token} extra`, token, `Token ${token}`]) {
      expect(await refusal(auth.authenticateHeader(bad))).toBe('Authorization header must be "Bearer <token>"');
    }
  });

  it('lets a token act only as its sub, and create users only with admin: true', () => {
    const auth = service({ AUTH_JWT_SECRET: SECRET });
    const alice: Identity = { sub: 'alice', admin: false, exp: now() + 60 };
    expect(() => auth.assertActsAs(alice, 'alice')).not.toThrow();
    for (const other of ['bob', 'Alice', 'alice ', undefined, 42]) {
      expect(() => auth.assertActsAs(alice, other)).toThrow(
        expect.objectContaining({ code: ErrorCode.Forbidden }) as unknown as Error,
      );
    }
    expect(() => auth.assertAdmin(alice)).toThrow(expect.objectContaining({ code: ErrorCode.Forbidden }) as unknown as Error);
    expect(() => auth.assertAdmin({ ...alice, admin: true })).not.toThrow();
  });

  it('authorises a socket for the token sub only: 401 without or with a bad token, 403 for another user', async () => {
    const auth = service({ AUTH_JWT_SECRET: SECRET });
    const token = await sign(fixtures.HS256, { sub: 'alice', exp: now() + 60 });
    await expect(auth.authorizeSocket(token, 'alice')).resolves.toMatchObject({ sub: 'alice' });
    expect(await refusal(auth.authorizeSocket(undefined, 'alice'))).toBe('Missing bearer token');
    await refusal(auth.authorizeSocket(tamperSignature(token), 'alice'));
    const forbidden = await auth.authorizeSocket(token, 'bob').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(forbidden).toBeInstanceOf(DomainError);
    expect((forbidden as DomainError).code).toBe(ErrorCode.Forbidden);
  });

  describe('watchExpiry', () => {
    afterEach(() => {
      jest.useRealTimers();
    });

    it('fires once the token is no longer accepted (exp plus the skew), not before', () => {
      jest.useFakeTimers({ now: 1_700_000_000_000 });
      const auth = service({ AUTH_JWT_SECRET: SECRET, AUTH_CLOCK_SKEW: 5 });
      const fired = jest.fn();
      auth.watchExpiry({ sub: 'a', admin: false, exp: 1_700_000_010 }, fired);
      jest.advanceTimersByTime(14_999);
      expect(fired).not.toHaveBeenCalled();
      jest.advanceTimersByTime(1);
      expect(fired).toHaveBeenCalledTimes(1);
      jest.advanceTimersByTime(60_000);
      expect(fired).toHaveBeenCalledTimes(1);
    });

    it('waits correctly for a token valid longer than a Node timer can wait (~24.8 days)', () => {
      jest.useFakeTimers({ now: 1_700_000_000_000 });
      const auth = service({ AUTH_JWT_SECRET: SECRET, AUTH_CLOCK_SKEW: 0 });
      const fired = jest.fn();
      const days = 40;
      auth.watchExpiry({ sub: 'a', admin: false, exp: 1_700_000_000 + days * 86_400 }, fired);
      jest.advanceTimersByTime(1000);
      expect(fired).not.toHaveBeenCalled();
      jest.advanceTimersByTime(days * 86_400_000 - 1001);
      expect(fired).not.toHaveBeenCalled();
      jest.advanceTimersByTime(1);
      expect(fired).toHaveBeenCalledTimes(1);
    });

    it('never fires once cancelled (the socket closed first)', () => {
      jest.useFakeTimers({ now: 1_700_000_000_000 });
      const auth = service({ AUTH_JWT_SECRET: SECRET, AUTH_CLOCK_SKEW: 0 });
      const fired = jest.fn();
      const cancel = auth.watchExpiry({ sub: 'a', admin: false, exp: 1_700_000_002 }, fired);
      jest.advanceTimersByTime(1000);
      cancel();
      jest.advanceTimersByTime(10_000);
      expect(fired).not.toHaveBeenCalled();
      expect(jest.getTimerCount()).toBe(0);
    });
  });
});
