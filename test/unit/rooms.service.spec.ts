import { DomainError, ErrorCode } from '../../src/common/errors/domain-error.js';
import { MemoryRoomsRepository } from '../../src/rooms/memory-rooms.repository.js';
import { RoomsService } from '../../src/rooms/rooms.service.js';

const RFC3339_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe(RoomsService.name, () => {
  let repo: MemoryRoomsRepository;
  let rooms: RoomsService;

  beforeEach(() => {
    repo = new MemoryRoomsRepository();
    rooms = new RoomsService(repo);
  });

  describe('create', () => {
    it('answers the stored room with an opaque URL-safe id and a RFC 3339 timestamp', async () => {
      const before = Date.now();
      const room = await rooms.create('General Chat');
      expect(Object.keys(room).sort()).toEqual(['created_at', 'id', 'name']);
      expect(room.name).toBe('General Chat');
      expect(room.id).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
      expect(room.created_at).toMatch(RFC3339_MS);
      expect(Date.parse(room.created_at)).toBeGreaterThanOrEqual(before);
      await expect(repo.findById(room.id)).resolves.toEqual(room);
    });

    it('gives every room its own id, also for equal names', async () => {
      const a = await rooms.create('Same');
      const b = await rooms.create('Same');
      expect(a.id).not.toBe(b.id);
      await expect(rooms.list(0, 10)).resolves.toEqual([a, b]);
    });

    it('stores the name trimmed with JavaScript whitespace', async () => {
      await expect(rooms.create('  General  ')).resolves.toMatchObject({ name: 'General' });
      await expect(rooms.create('\t\n\u00a0\u3000\ufeffLobby\u2028 ')).resolves.toMatchObject({ name: 'Lobby' });
      await expect(rooms.create(' a  b ')).resolves.toMatchObject({ name: 'a  b' });
    });

    it('accepts 100 characters counted in code points', async () => {
      await expect(rooms.create('a'.repeat(100))).resolves.toMatchObject({ name: 'a'.repeat(100) });
      await expect(rooms.create('👋'.repeat(100))).resolves.toMatchObject({ name: '👋'.repeat(100) });
      await expect(rooms.create(`   ${'👋'.repeat(100)}   `)).resolves.toMatchObject({ name: '👋'.repeat(100) });
    });

    it.each([
      ['101 ASCII characters', 'a'.repeat(101)],
      ['101 emoji', '👋'.repeat(101)],
      ['an empty string', ''],
      ['only spaces', '   '],
      ['only JavaScript whitespace', '\t\n\u00a0\u2003\ufeff'],
    ])('refuses %s, naming the field', async (_what, name) => {
      const p = rooms.create(name);
      await expect(p).rejects.toBeInstanceOf(DomainError);
      await expect(p).rejects.toMatchObject({ code: ErrorCode.Validation, message: expect.stringContaining('name') });
      await expect(rooms.list(0, 100)).resolves.toEqual([]);
    });

    it.each([[123], [null], [undefined], [true], [['General']], [{ name: 'General' }]])(
      'refuses the non-string %j, naming the field',
      async (name) => {
        await expect(rooms.create(name)).rejects.toMatchObject({
          code: ErrorCode.Validation,
          message: 'name must be a string',
        });
        await expect(rooms.list(0, 100)).resolves.toEqual([]);
      },
    );
  });

  describe('get', () => {
    it('answers a created room', async () => {
      const room = await rooms.create('General');
      await expect(rooms.get(room.id)).resolves.toEqual(room);
    });

    it('throws RoomNotFound for an unknown id', async () => {
      await expect(rooms.get('nope')).rejects.toMatchObject({ code: ErrorCode.RoomNotFound, message: 'Room not found' });
    });
  });

  describe('assertExists', () => {
    it('resolves for a known room', async () => {
      const room = await rooms.create('General');
      await expect(rooms.assertExists(room.id)).resolves.toBeUndefined();
    });

    it('resolves for a room created through another service on the same store', async () => {
      const room = await new RoomsService(repo).create('Elsewhere');
      await expect(rooms.assertExists(room.id)).resolves.toBeUndefined();
    });

    it('throws RoomNotFound for an unknown room', async () => {
      await expect(rooms.assertExists('nope')).rejects.toMatchObject({ code: ErrorCode.RoomNotFound });
    });

    it('knows a room without storage once created or found there, and never an unknown one', async () => {
      const room = await rooms.create('Known');
      expect(rooms.isKnown(room.id)).toBe(true);
      const other = new RoomsService(repo);
      expect(other.isKnown(room.id)).toBe(false);
      await other.assertExists(room.id);
      expect(other.isKnown(room.id)).toBe(true);
      await expect(other.assertExists('nope')).rejects.toMatchObject({ code: ErrorCode.RoomNotFound });
      expect(other.isKnown('nope')).toBe(false);
    });
  });

  describe('list', () => {
    it('lists oldest first with offset and limit', async () => {
      const created = [];
      for (let i = 0; i < 5; i++) created.push(await rooms.create(`room ${i}`));
      await expect(rooms.list(0, 100)).resolves.toEqual(created);
      await expect(rooms.list(1, 2)).resolves.toEqual(created.slice(1, 3));
      await expect(rooms.list(5, 2)).resolves.toEqual([]);
    });
  });
});
