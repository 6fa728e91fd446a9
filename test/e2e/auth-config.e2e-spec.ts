import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, jwtVerify } from 'jose';
import { api, runServerExpectingExit, type TestServer } from '../support/app.js';
import { e2eFixture } from '../support/fixture.js';

/**
 * Authentication configuration at boot (a bad key stops the process naming the
 * variable) and the development token CLI (`npm run token`), both built.
 */

const SECRET = 'e2e-config-secret-0123456789abcdef-01234567';
const CLI = join(process.cwd(), 'dist', 'cli', 'token.js');

const pem = (key: { export(o: { type: 'spki' | 'pkcs8'; format: 'pem' }): string | Buffer }, type: 'spki' | 'pkcs8') =>
  key.export({ type, format: 'pem' }).toString();

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command with exactly `env` (plus PATH and HOME) in `cwd`; resolves when it exits (killed after 20 s). */
function run(command: string, args: string[], env: Record<string, string>, cwd = process.cwd()): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const token = (args: string[], env: Record<string, string>, cwd?: string) => run(process.execPath, [CLI, ...args], env, cwd);

describe('authentication configuration at start-up', () => {
  const rsa1024 = () => pem(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey, 'spki');
  const p384 = () => pem(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey, 'spki');
  const ecPrivate = () => pem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, 'pkcs8');
  const ecPublic = () => pem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey, 'spki');

  it.each([
    ['both AUTH_JWT_SECRET and AUTH_JWT_PUBLIC_KEY', () => ({ AUTH_JWT_SECRET: SECRET, AUTH_JWT_PUBLIC_KEY: ecPublic() }), ['AUTH_JWT_SECRET', 'AUTH_JWT_PUBLIC_KEY']],
    ['a secret shorter than 32 bytes', () => ({ AUTH_JWT_SECRET: 'short-secret' }), ['AUTH_JWT_SECRET', '32 bytes']],
    ['a public key that is not PEM', () => ({ AUTH_JWT_PUBLIC_KEY: 'not-a-key' }), ['AUTH_JWT_PUBLIC_KEY']],
    ['a corrupt PEM', () => ({ AUTH_JWT_PUBLIC_KEY: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----' }), ['AUTH_JWT_PUBLIC_KEY']],
    ['a private key given as the public key', () => ({ AUTH_JWT_PUBLIC_KEY: ecPrivate() }), ['AUTH_JWT_PUBLIC_KEY', 'private key']],
    ['a 1024-bit RSA key', () => ({ AUTH_JWT_PUBLIC_KEY: rsa1024() }), ['AUTH_JWT_PUBLIC_KEY', '2048']],
    ['a P-384 key', () => ({ AUTH_JWT_PUBLIC_KEY: p384() }), ['AUTH_JWT_PUBLIC_KEY', 'P-256']],
    ['AUTH_CLOCK_SKEW=abc', () => ({ AUTH_JWT_SECRET: SECRET, AUTH_CLOCK_SKEW: 'abc' }), ['AUTH_CLOCK_SKEW']],
    ['AUTH_CLOCK_SKEW=301', () => ({ AUTH_JWT_SECRET: SECRET, AUTH_CLOCK_SKEW: '301' }), ['AUTH_CLOCK_SKEW']],
  ])('refuses to start with %s, naming the variable', async (_what, vars, names) => {
    const { code, output } = await runServerExpectingExit(vars(), 25_000);
    expect(code).not.toBeNull();
    expect(code).not.toBe(0);
    for (const name of names) expect(output).toContain(name);
    expect(output).not.toMatch(/Listening on/);
  });

  it('never prints the secret when refusing it', async () => {
    const secret = 'my-very-private-but-short';
    const { code, output } = await runServerExpectingExit({ AUTH_JWT_SECRET: secret }, 25_000);
    expect(code).not.toBe(0);
    expect(output).toContain('AUTH_JWT_SECRET');
    expect(output).not.toContain(secret);
  });

  describe('with AUTH_JWT_ISSUER but no key', () => {
    const fixture = e2eFixture();
    let server: TestServer;

    beforeAll(async () => {
      server = await fixture.startServer({ AUTH_JWT_ISSUER: 'https://id.example.com/' });
    }, 30_000);

    it('starts with authentication off and warns that it is off', async () => {
      expect(server.output()).toMatch(/authentication is OFF/);
      expect((await api(server.baseUrl).get('/rooms')).status).toBe(200);
    });
  });
});

describe('npm run token (dist/cli/token.js)', () => {
  const fixture = e2eFixture();
  let server: TestServer;
  let dir: string;
  const key = new TextEncoder().encode(SECRET);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'parley-token-'));
    server = await fixture.startServer({ AUTH_JWT_SECRET: SECRET, AUTH_JWT_ISSUER: 'https://id.example.com/', AUTH_JWT_AUDIENCE: 'parley' });
  }, 30_000);

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints a token alone on stdout: HS256, the sub, admin: true, exp = iat + ttl', async () => {
    const r = await token(['--sub', 'user-42', '--admin', '--ttl', '10m'], { AUTH_JWT_SECRET: SECRET }, dir);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    const { payload, protectedHeader } = await jwtVerify(lines[0], key, { algorithms: ['HS256'] });
    expect(protectedHeader.alg).toBe('HS256');
    expect(payload).toMatchObject({ sub: 'user-42', admin: true });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(600);
    expect(r.stderr).toMatch(/expires/);
  });

  it('mints tokens the server accepts: an admin creates a user, the user sends as itself', async () => {
    const env = { AUTH_JWT_SECRET: SECRET, AUTH_JWT_ISSUER: 'https://id.example.com/', AUTH_JWT_AUDIENCE: 'parley' };
    const adminToken = (await token(['--sub', 'ops', '--admin'], env, dir)).stdout.trim();
    const client = api(server.baseUrl);
    const user = await client.post('/users', { username: `cli_${Date.now().toString(36)}` }, { authorization: `Bearer ${adminToken}` });
    expect(user.status).toBe(200);
    const room = await client.post('/rooms', { name: 'CLI' }, { authorization: `Bearer ${adminToken}` });
    const userToken = (await token(['--sub', user.body.id], env, dir)).stdout.trim();
    expect(decodeJwt(userToken).admin).toBeUndefined();
    const sent = await client.post(
      `/rooms/${room.body.id}/messages`,
      { content: 'minted', user_id: user.body.id },
      { authorization: `Bearer ${userToken}` },
    );
    expect(sent.status).toBe(200);
    const denied = await client.post('/users', { username: 'not_admin' }, { authorization: `Bearer ${userToken}` });
    expect(denied.status).toBe(403);
  });

  it('reads AUTH_* from .env in the working directory, the environment winning over the file', async () => {
    const envDir = mkdtempSync(join(dir, 'dotenv-'));
    writeFileSync(
      join(envDir, '.env'),
      `AUTH_JWT_SECRET=${SECRET}\nAUTH_JWT_ISSUER=https://from-file.example/\nAUTH_JWT_AUDIENCE=file-aud\nPORT=not-a-port\n`,
    );
    const fromFile = await token(['--sub', 'u'], {}, envDir);
    expect(fromFile.code).toBe(0);
    expect(decodeJwt(fromFile.stdout.trim())).toMatchObject({ sub: 'u', iss: 'https://from-file.example/', aud: 'file-aud' });
    const overridden = await token(['--sub', 'u'], { AUTH_JWT_ISSUER: 'https://from-env.example/' }, envDir);
    expect(decodeJwt(overridden.stdout.trim())).toMatchObject({ iss: 'https://from-env.example/', aud: 'file-aud' });
  });

  it('refuses with a clear message when only AUTH_JWT_PUBLIC_KEY is configured', async () => {
    const publicKey = pem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey, 'spki');
    const r = await token(['--sub', 'u'], { AUTH_JWT_PUBLIC_KEY: publicKey }, dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('AUTH_JWT_PUBLIC_KEY is set');
    expect(r.stderr).toContain('AUTH_JWT_SECRET');
    expect(r.stderr).toMatch(/private key/);
  });

  it('refuses when no key is configured, or the secret is unusable', async () => {
    const none = await token(['--sub', 'u'], {}, dir);
    expect(none.code).toBe(1);
    expect(none.stdout).toBe('');
    expect(none.stderr).toContain('AUTH_JWT_SECRET is not set');
    const short = await token(['--sub', 'u'], { AUTH_JWT_SECRET: 'short' }, dir);
    expect(short.code).toBe(1);
    expect(short.stderr).toMatch(/AUTH_JWT_SECRET .*32 bytes/);
  });

  it('explains its usage: exit 2 on a bad command line, 0 for --help', async () => {
    const missing = await token([], { AUTH_JWT_SECRET: SECRET }, dir);
    expect(missing.code).toBe(2);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toContain('--sub <user_id> is required');
    expect(missing.stderr).toContain('Usage:');
    const badTtl = await token(['--sub', 'u', '--ttl', 'forever'], { AUTH_JWT_SECRET: SECRET }, dir);
    expect(badTtl.code).toBe(2);
    expect(badTtl.stderr).toContain('--ttl');
    const help = await token(['--help'], {}, dir);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: npm run -s token -- --sub <user_id> [--admin] [--ttl 1h]');
  });

  it('runs as the package script `npm run -s token -- …`', async () => {
    const r = await run('npm', ['run', '-s', 'token', '--', '--sub', 'via-npm', '--ttl', '90'], { AUTH_JWT_SECRET: SECRET });
    expect(r.code).toBe(0);
    const { payload } = await jwtVerify(r.stdout.trim(), key, { algorithms: ['HS256'] });
    expect(payload.sub).toBe('via-npm');
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(90);
  });
});
