import { ConfigService } from '@nestjs/config';
import { ErrorCode } from '../../src/common/errors/domain-error.js';
import type { Env } from '../../src/config/env.schema.js';
import { MemoryMessagesRepository } from '../../src/messages/memory-messages.repository.js';
import type { Message } from '../../src/messages/message.js';
import { MAX_RECOVERY, MessagesService, type SendInput } from '../../src/messages/messages.service.js';
import { MemoryRoomBroker } from '../../src/realtime/room-broker.js';
import { MemoryRoomsRepository } from '../../src/rooms/memory-rooms.repository.js';
import { RoomsService } from '../../src/rooms/rooms.service.js';
import { MemoryUsersRepository } from '../../src/users/memory-users.repository.js';
import { UsersService } from '../../src/users/users.service.js';

const MAX_LENGTH = 10;
const HISTORY_LIMIT = 5;
const RFC3339_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

interface Fixture {
  service: MessagesService;
  broker: MemoryRoomBroker;
  roomId: string;
  otherRoomId: string;
  userId: string;
  otherUserId: string;
}

async function setUp(retention = 10_000): Promise<Fixture> {
  const broker = new MemoryRoomBroker();
  const rooms = new RoomsService(new MemoryRoomsRepository());
  const users = new UsersService(new MemoryUsersRepository());
  const config = new ConfigService({ MESSAGE_MAX_LENGTH: MAX_LENGTH, HISTORY_LIMIT }) as ConfigService<Env, true>;
  const service = new MessagesService(
    new MemoryMessagesRepository(broker, { retention, idempotencyTtlSeconds: 3600 }),
    rooms,
    users,
    config,
  );
  return {
    service,
    broker,
    roomId: (await rooms.create('General')).id,
    otherRoomId: (await rooms.create('Other')).id,
    userId: (await users.create('alice')).id,
    otherUserId: (await users.create('bob')).id,
  };
}

describe(MessagesService.name, () => {
  let f: Fixture;

  beforeEach(async () => {
    f = await setUp();
  });

  const stored = async (roomId = f.roomId): Promise<Message[]> =>
    JSON.parse((await f.service.list(roomId, { limit: 200 })).toString()) as Message[];

  /** MessagesService.send(), with the answered JSON text parsed too. */
  async function send(input: SendInput): Promise<{ json: string; message: Message; duplicate: boolean }> {
    const { json, duplicate } = await f.service.send(input);
    return { json, message: JSON.parse(json) as Message, duplicate };
  }

  async function sendMany(n: number, roomId = f.roomId): Promise<Message[]> {
    const out: Message[] = [];
    for (let i = 1; i <= n; i++) {
      out.push((await send({ roomId, userId: f.userId, content: `m${i}` })).message);
    }
    return out;
  }

  describe('send', () => {
    it('stores a text message by default and answers it', async () => {
      const { message, duplicate } = await send({ roomId: f.roomId, userId: f.userId, content: 'Hello' });
      expect(duplicate).toBe(false);
      expect(message).toEqual({
        id: expect.any(String),
        room_id: f.roomId,
        user_id: f.userId,
        content: 'Hello',
        type: 'text',
        created_at: expect.stringMatching(RFC3339_MS),
      });
      await expect(stored()).resolves.toEqual([message]);
    });

    it.each(['text', 'image', 'file'])('accepts the type %j', async (type) => {
      const { message } = await send({ roomId: f.roomId, userId: f.userId, content: 'x', type });
      expect(message.type).toBe(type);
    });

    it('stores the content exactly as sent, whitespace included', async () => {
      const content = ' hi\n\tyo  ';
      const { message } = await send({ roomId: f.roomId, userId: f.userId, content });
      expect(message.content).toBe(content);
      expect((await stored())[0].content).toBe(content);
    });

    it('counts the content length in code points', async () => {
      const content = '👋'.repeat(MAX_LENGTH);
      expect(content.length).toBe(2 * MAX_LENGTH);
      await expect(send({ roomId: f.roomId, userId: f.userId, content })).resolves.toMatchObject({
        message: { content },
      });
    });

    it('applies the content length limit after trimming', async () => {
      const content = `  ${'👋'.repeat(MAX_LENGTH)}  `;
      await expect(send({ roomId: f.roomId, userId: f.userId, content })).resolves.toMatchObject({
        message: { content },
      });
    });

    it.each([
      ['one code point too many', 'a'.repeat(MAX_LENGTH + 1), 'content'],
      ['one emoji too many', '👋'.repeat(MAX_LENGTH + 1), 'content'],
      ['blank content', ' \n\t\u00a0', 'content'],
      ['empty content', '', 'content'],
      ['a number as content', 42, 'content'],
      ['null content', null, 'content'],
      ['missing content', undefined, 'content'],
    ])('refuses %s, naming the field, and stores nothing', async (_what, content, field) => {
      await expect(f.service.send({ roomId: f.roomId, userId: f.userId, content })).rejects.toMatchObject({
        code: ErrorCode.Validation,
        message: expect.stringContaining(field),
      });
      await expect(stored()).resolves.toEqual([]);
    });

    it.each([
      [42, 'user_id must be a string'],
      [['id'], 'user_id must be a string'],
      [null, 'user_id is required'],
      [undefined, 'user_id is required'],
    ])('refuses the user_id %j with "%s"', async (userId, message) => {
      await expect(f.service.send({ roomId: f.roomId, userId, content: 'x' })).rejects.toMatchObject({
        code: ErrorCode.Validation,
        message,
      });
      await expect(stored()).resolves.toEqual([]);
    });

    it.each([
      [42, 'content must be a string'],
      [null, 'content is required'],
      [undefined, 'content is required'],
    ])('refuses the content %j with "%s", before looking at user_id', async (content, message) => {
      await expect(f.service.send({ roomId: f.roomId, userId: undefined, content })).rejects.toMatchObject({
        code: ErrorCode.Validation,
        message,
      });
    });

    it.each([['system'], [''], [' text'], ['text '], ['TEXT'], ['video'], [1], [['text']]])(
      'refuses the type %j, naming the field',
      async (type) => {
        await expect(f.service.send({ roomId: f.roomId, userId: f.userId, content: 'x', type })).rejects.toMatchObject({
          code: ErrorCode.Validation,
          message: expect.stringContaining('type'),
        });
        await expect(stored()).resolves.toEqual([]);
      },
    );

    it.each([[''], ['x'.repeat(65)], ['👋'.repeat(65)], [42]])(
      'refuses the client_msg_id %j, naming the field',
      async (clientMsgId) => {
        await expect(
          f.service.send({ roomId: f.roomId, userId: f.userId, content: 'x', clientMsgId }),
        ).rejects.toMatchObject({ code: ErrorCode.Validation, message: expect.stringContaining('client_msg_id') });
        await expect(stored()).resolves.toEqual([]);
      },
    );

    it('accepts a client_msg_id of 64 code points and keeps it on the message', async () => {
      const clientMsgId = '👋'.repeat(64);
      const { message } = await send({ roomId: f.roomId, userId: f.userId, content: 'x', clientMsgId });
      expect(message.client_msg_id).toBe(clientMsgId);
    });

    it('throws RoomNotFound for an unknown room and stores nothing', async () => {
      await expect(f.service.send({ roomId: 'nope', userId: f.userId, content: 'x' })).rejects.toMatchObject({
        code: ErrorCode.RoomNotFound,
        message: 'Room not found',
      });
    });

    it('throws UserNotFound for an unknown user and stores nothing', async () => {
      await expect(f.service.send({ roomId: f.roomId, userId: 'nope', content: 'x' })).rejects.toMatchObject({
        code: ErrorCode.UserNotFound,
        message: 'User not found',
      });
      await expect(stored()).resolves.toEqual([]);
    });

    it('answers a repeated client_msg_id with the original message and stores it once', async () => {
      const first = await send({ roomId: f.roomId, userId: f.userId, content: 'a', clientMsgId: 'c1' });
      const again = await send({ roomId: f.roomId, userId: f.userId, content: 'b', clientMsgId: 'c1' });
      expect(again).toEqual({ json: first.json, message: first.message, duplicate: true });
      const other = await send({
        roomId: f.roomId,
        userId: f.otherUserId,
        content: 'a',
        clientMsgId: 'c1',
      });
      expect(other.duplicate).toBe(false);
      await expect(stored()).resolves.toEqual([first.message, other.message]);
    });

    it('publishes each stored message once on the room broker', async () => {
      const envelopes: string[] = [];
      f.broker.onEnvelope((roomId, envelope) => envelopes.push(`${roomId}|${envelope}`));
      await f.broker.subscribe(f.roomId);
      const { message } = await send({ roomId: f.roomId, userId: f.userId, content: 'hi', clientMsgId: 'c' });
      await f.service.send({ roomId: f.roomId, userId: f.userId, content: 'hi', clientMsgId: 'c' });
      expect(envelopes).toHaveLength(1);
      expect(envelopes[0].startsWith(`${f.roomId}|m1\n`)).toBe(true);
      expect(JSON.parse(envelopes[0].split('\n')[1])).toEqual(message);
    });
  });

  describe('list', () => {
    it('answers the last `limit` messages, oldest first', async () => {
      const all = await sendMany(8);
      const page = JSON.parse((await f.service.list(f.roomId, { limit: 3 })).toString()) as Message[];
      expect(page).toEqual(all.slice(5));
      await expect(stored()).resolves.toEqual(all);
    });

    it('answers an empty page for a room without messages', async () => {
      expect((await f.service.list(f.roomId, { limit: 50 })).toString()).toBe('[]');
    });

    it('keeps rooms apart', async () => {
      const a = await sendMany(2);
      const b = await sendMany(1, f.otherRoomId);
      await expect(stored()).resolves.toEqual(a);
      await expect(stored(f.otherRoomId)).resolves.toEqual(b);
    });

    it('answers the `limit` messages just older than `before`', async () => {
      const all = await sendMany(10);
      const page = JSON.parse((await f.service.list(f.roomId, { limit: 3, before: all[6].id })).toString()) as Message[];
      expect(page).toEqual(all.slice(3, 6));
      const head = JSON.parse((await f.service.list(f.roomId, { limit: 5, before: all[2].id })).toString()) as Message[];
      expect(head).toEqual(all.slice(0, 2));
      expect((await f.service.list(f.roomId, { limit: 5, before: all[0].id })).toString()).toBe('[]');
    });

    it('answers the `limit` messages just newer than `after`', async () => {
      const all = await sendMany(10);
      const page = JSON.parse((await f.service.list(f.roomId, { limit: 3, after: all[2].id })).toString()) as Message[];
      expect(page).toEqual(all.slice(3, 6));
      const tail = JSON.parse((await f.service.list(f.roomId, { limit: 5, after: all[7].id })).toString()) as Message[];
      expect(tail).toEqual(all.slice(8));
      expect((await f.service.list(f.roomId, { limit: 5, after: all[9].id })).toString()).toBe('[]');
    });

    it('refuses before and after together', async () => {
      const all = await sendMany(3);
      await expect(f.service.list(f.roomId, { limit: 5, before: all[2].id, after: all[0].id })).rejects.toMatchObject({
        code: ErrorCode.Validation,
        message: expect.stringMatching(/before.*after|after.*before/),
      });
    });

    it.each([['garbage'], [''], ['0000000001']])('refuses the cursor %j, naming it', async (cursor) => {
      await sendMany(2);
      await expect(f.service.list(f.roomId, { limit: 5, before: cursor })).rejects.toMatchObject({
        code: ErrorCode.Validation,
        message: expect.stringContaining('before'),
      });
      await expect(f.service.list(f.roomId, { limit: 5, after: cursor })).rejects.toMatchObject({
        code: ErrorCode.Validation,
        message: expect.stringContaining('after'),
      });
    });

    it('refuses a message id of another room as cursor', async () => {
      const [other] = await sendMany(1, f.otherRoomId);
      await sendMany(2);
      await expect(f.service.list(f.roomId, { limit: 5, before: other.id })).rejects.toMatchObject({
        code: ErrorCode.Validation,
      });
    });

    it('throws RoomNotFound for an unknown room', async () => {
      await expect(f.service.list('nope', { limit: 5 })).rejects.toMatchObject({
        code: ErrorCode.RoomNotFound,
        message: 'Room not found',
      });
    });
  });

  describe('history', () => {
    const parse = (page: string[]) => page.map((j) => JSON.parse(j) as Message);

    it('answers the last HISTORY_LIMIT messages without a recovery flag', async () => {
      const all = await sendMany(8);
      const h = await f.service.history(f.roomId);
      expect(parse(h.page)).toEqual(all.slice(8 - HISTORY_LIMIT));
      expect(h.recovered).toBeUndefined();
      expect(h.lastSeq).toBe(8);
    });

    it('answers an empty history for a new room', async () => {
      await expect(f.service.history(f.roomId)).resolves.toEqual({ page: [], lastSeq: 0 });
    });

    it('recovers exactly the messages after `since`', async () => {
      const all = await sendMany(8);
      const h = await f.service.history(f.roomId, all[1].id);
      expect(h.recovered).toBe(true);
      expect(parse(h.page)).toEqual(all.slice(2));
    });

    it('recovers nothing, successfully, from the newest message', async () => {
      const all = await sendMany(3);
      await expect(f.service.history(f.roomId, all[2].id)).resolves.toEqual({ page: [], recovered: true, lastSeq: 3 });
    });

    it('falls back to the usual history for an unknown or foreign `since`', async () => {
      const [foreign] = await sendMany(1, f.otherRoomId);
      const all = await sendMany(8);
      for (const since of ['garbage', foreign.id, `${f.roomId}.0000000099`]) {
        const h = await f.service.history(f.roomId, since);
        expect(h.recovered).toBe(false);
        expect(parse(h.page)).toEqual(all.slice(8 - HISTORY_LIMIT));
      }
    });

    it('falls back when messages after `since` were trimmed', async () => {
      f = await setUp(4);
      const all = await sendMany(8);
      const h = await f.service.history(f.roomId, all[1].id);
      expect(h.recovered).toBe(false);
      expect(parse(h.page)).toEqual(all.slice(4));
      const ok = await f.service.history(f.roomId, all[3].id);
      expect(ok.recovered).toBe(true);
      expect(parse(ok.page)).toEqual(all.slice(4));
    });

    it(`falls back when more than ${MAX_RECOVERY} messages follow \`since\``, async () => {
      const all = await sendMany(MAX_RECOVERY + 2);
      const tooFar = await f.service.history(f.roomId, all[0].id);
      expect(tooFar.recovered).toBe(false);
      expect(tooFar.page).toHaveLength(HISTORY_LIMIT);
      const justOk = await f.service.history(f.roomId, all[1].id);
      expect(justOk.recovered).toBe(true);
      expect(justOk.page).toHaveLength(MAX_RECOVERY);
      expect(parse(justOk.page)[0]).toEqual(all[2]);
    });
  });
});
