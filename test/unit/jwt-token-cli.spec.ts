import { decodeProtectedHeader, jwtVerify } from 'jose';
import { type JwtKey, parseJwtKey } from '../../src/auth/jwt-key.js';
import { mintToken, parseDuration, parseTokenArgs, UsageError } from '../../src/cli/mint-token.js';

/** The pieces of `npm run token`; the built command itself is run in test/e2e/auth-config.e2e-spec.ts. */

const SECRET = 'cli-unit-secret-0123456789abcdef-0123456789';

describe(parseDuration.name, () => {
  it.each([
    ['90', 90],
    ['30s', 30],
    ['15m', 900],
    ['1h', 3600],
    ['7d', 604_800],
    [' 2h ', 7200],
  ])('reads %j as %d seconds', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });

  it.each(['', '0', '0s', '-5', '1.5h', '1w', 'h', '1 h', '367d', 'soon'])('refuses %j', (text) => {
    expect(() => parseDuration(text)).toThrow(UsageError);
  });
});

describe(parseTokenArgs.name, () => {
  it('reads --sub, --admin and --ttl, in either form', () => {
    expect(parseTokenArgs(['--sub', 'u1'])).toEqual({ sub: 'u1', admin: false, ttl: 3600 });
    expect(parseTokenArgs(['--sub=u1', '--admin', '--ttl=10m'])).toEqual({ sub: 'u1', admin: true, ttl: 600 });
    expect(parseTokenArgs(['--ttl', '45', '--admin', '--sub', 'a=b'])).toEqual({ sub: 'a=b', admin: true, ttl: 45 });
  });

  it('answers null for --help', () => {
    expect(parseTokenArgs(['--help'])).toBeNull();
    expect(parseTokenArgs(['--sub', 'x', '-h'])).toBeNull();
  });

  it.each([
    [[], /--sub <user_id> is required/],
    [['--admin'], /--sub <user_id> is required/],
    [['--sub'], /--sub needs a value/],
    [['--sub', '--admin'], /--sub needs a value/],
    [['--sub', '  '], /--sub <user_id> is required/],
    [['--sub', 'u', '--ttl', 'forever'], /--ttl/],
    [['--sub', 'u', '--admin=yes'], /--admin takes no value/],
    [['--sub', 'u', '--role', 'x'], /unknown argument "--role"/],
    [['u1'], /unknown argument "u1"/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseTokenArgs(argv)).toThrow(UsageError);
    expect(() => parseTokenArgs(argv)).toThrow(message);
  });
});

describe(mintToken.name, () => {
  const key = parseJwtKey({ AUTH_JWT_SECRET: SECRET }) as JwtKey;
  const secretBytes = new TextEncoder().encode(SECRET);

  it('signs an HS256 JWT with sub, iat and exp = iat + ttl', async () => {
    const token = await mintToken({ sub: 'user-7', admin: false, ttl: 900 }, { key, now: 1_800_000_000 });
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'HS256', typ: 'JWT' });
    const { payload } = await jwtVerify(token, secretBytes, {
      algorithms: ['HS256'],
      currentDate: new Date(1_800_000_100_000),
    });
    expect(payload).toEqual({ sub: 'user-7', iat: 1_800_000_000, exp: 1_800_000_900 });
  });

  it('adds admin: true, and the configured issuer and audience', async () => {
    const token = await mintToken(
      { sub: 'root', admin: true, ttl: 60 },
      { key, issuer: 'https://id.example.com/', audience: 'parley' },
    );
    const { payload } = await jwtVerify(token, secretBytes, {
      algorithms: ['HS256'],
      issuer: 'https://id.example.com/',
      audience: 'parley',
    });
    expect(payload).toMatchObject({ sub: 'root', admin: true, iss: 'https://id.example.com/', aud: 'parley' });
  });

  it('refuses to sign with anything but the HS256 secret', async () => {
    const fake = { alg: 'RS256', key: secretBytes, variable: 'AUTH_JWT_PUBLIC_KEY' } as JwtKey;
    await expect(mintToken({ sub: 'x', admin: false, ttl: 60 }, { key: fake })).rejects.toThrow(/HS256/);
  });
});
