import { DomainError, ErrorCode } from '../../src/common/errors/domain-error.js';
import { MemoryUsersRepository } from '../../src/users/memory-users.repository.js';
import { UsersService } from '../../src/users/users.service.js';

const RFC3339_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe(UsersService.name, () => {
  let repo: MemoryUsersRepository;
  let users: UsersService;

  beforeEach(() => {
    repo = new MemoryUsersRepository();
    users = new UsersService(repo);
  });

  describe('create', () => {
    it('answers the stored user with an opaque URL-safe id and a RFC 3339 timestamp', async () => {
      const user = await users.create('john_doe');
      expect(Object.keys(user).sort()).toEqual(['created_at', 'id', 'username']);
      expect(user.username).toBe('john_doe');
      expect(user.id).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
      expect(user.created_at).toMatch(RFC3339_MS);
      await expect(repo.findById(user.id)).resolves.toEqual(user);
    });

    it.each(['abc', 'a'.repeat(32), 'John.Doe-99_x', '___', '...', '0-9'])('accepts %j', async (username) => {
      await expect(users.create(username)).resolves.toMatchObject({ username });
    });

    it.each([
      ['2 characters', 'ab'],
      ['33 characters', 'a'.repeat(33)],
      ['an empty string', ''],
      ['a leading space (not trimmed)', ' alice'],
      ['a trailing space (not trimmed)', 'alice '],
      ['a trailing newline', 'alice\n'],
      ['an inner space', 'al ice'],
      ['a non-ASCII letter', 'ålice'],
      ['an emoji', 'alice👋'],
      ['punctuation outside _ . -', 'alice!'],
      ['an @', 'a@b.c'],
    ])('refuses %s, naming the field', async (_what, username) => {
      const p = users.create(username);
      await expect(p).rejects.toBeInstanceOf(DomainError);
      await expect(p).rejects.toMatchObject({
        code: ErrorCode.Validation,
        message: expect.stringContaining('username'),
      });
      await expect(users.list(0, 100)).resolves.toEqual([]);
    });

    it.each([[123], [null], [undefined], [['alice']], [{}]])('refuses the non-string %j', async (username) => {
      await expect(users.create(username)).rejects.toMatchObject({
        code: ErrorCode.Validation,
        message: 'username must be a string',
      });
    });

    it('refuses a taken username, case-insensitively, with UsernameTaken', async () => {
      const first = await users.create('Alice');
      for (const name of ['Alice', 'alice', 'ALICE', 'aLiCe']) {
        await expect(users.create(name)).rejects.toMatchObject({
          code: ErrorCode.UsernameTaken,
          message: 'Username already taken',
        });
      }
      await expect(users.list(0, 100)).resolves.toEqual([first]);
    });

    it('lets exactly one of two concurrent creates with differing case win', async () => {
      const results = await Promise.allSettled([users.create('Racer'), users.create('RACER')]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(rejected.reason).toMatchObject({ code: ErrorCode.UsernameTaken });
    });
  });

  describe('get', () => {
    it('answers a created user', async () => {
      const user = await users.create('alice');
      await expect(users.get(user.id)).resolves.toEqual(user);
    });

    it('throws UserNotFound for an unknown id', async () => {
      await expect(users.get('nope')).rejects.toMatchObject({ code: ErrorCode.UserNotFound, message: 'User not found' });
    });
  });

  describe('assertExists', () => {
    it('resolves for a known user and throws UserNotFound for an unknown one', async () => {
      const user = await users.create('alice');
      await expect(users.assertExists(user.id)).resolves.toBeUndefined();
      await expect(users.assertExists('nope')).rejects.toMatchObject({ code: ErrorCode.UserNotFound });
    });

    it('knows a user without storage once created or found there, and never an unknown one', async () => {
      const user = await users.create('bob');
      expect(users.isKnown(user.id)).toBe(true);
      const other = new UsersService(repo);
      expect(other.isKnown(user.id)).toBe(false);
      await other.assertExists(user.id);
      expect(other.isKnown(user.id)).toBe(true);
      await expect(other.assertExists('nope')).rejects.toMatchObject({ code: ErrorCode.UserNotFound });
      expect(other.isKnown('nope')).toBe(false);
    });
  });

  describe('list', () => {
    it('lists oldest first with offset and limit', async () => {
      const created = [];
      for (const name of ['u_a', 'u_b', 'u_c', 'u_d']) created.push(await users.create(name));
      await expect(users.list(0, 100)).resolves.toEqual(created);
      await expect(users.list(2, 1)).resolves.toEqual([created[2]]);
      await expect(users.list(4, 10)).resolves.toEqual([]);
    });
  });
});
