import { Redis } from 'ioredis';
import { MemoryMessagesRepository } from '../../src/messages/memory-messages.repository.js';
import type { Message, NewMessage } from '../../src/messages/message.js';
import type { MessagesRepository } from '../../src/messages/messages.repository.js';
import { RedisMessagesRepository } from '../../src/messages/redis-messages.repository.js';
import { MemoryRoomBroker } from '../../src/realtime/room-broker.js';
import { redisKeys } from '../../src/storage/redis-keys.js';
import { type ContractDriver, describeContract } from '../support/contract.js';
import { type RedisServer, startRedis } from '../support/redis-server.js';

interface Options {
  retention: number;
  idempotencyTtlSeconds: number;
}

/** Envelopes published for one room, as a subscriber sees them. */
interface Listener {
  envelopes: string[];
  /** Resolves once at least `n` envelopes arrived (rejects after 3 s). */
  waitFor(n: number): Promise<string[]>;
}

/** One driver of the port: start, a fresh repository on an empty store, a subscriber, stop. */
interface Driver extends ContractDriver<MessagesRepository> {
  fresh(options?: Partial<Options>): Promise<MessagesRepository>;
  listen(roomId: string): Promise<Listener>;
}

const DEFAULTS: Options = { retention: 10_000, idempotencyTtlSeconds: 3600 };

function collector(): Listener & { push(e: string): void } {
  const envelopes: string[] = [];
  const waiters: (() => void)[] = [];
  return {
    envelopes,
    push(e: string) {
      envelopes.push(e);
      for (const w of waiters.splice(0)) w();
    },
    waitFor(n: number) {
      return new Promise<string[]>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`expected ${n} envelopes, got ${envelopes.length}`)),
          3000,
        );
        const check = () => {
          if (envelopes.length >= n) {
            clearTimeout(timer);
            resolve(envelopes);
          } else {
            waiters.push(check);
          }
        };
        check();
      });
    },
  };
}

function memoryDriver(): Driver {
  let broker = new MemoryRoomBroker();
  const listeners = new Map<string, ReturnType<typeof collector>>();
  return {
    start: () => Promise.resolve(),
    fresh(options = {}) {
      broker = new MemoryRoomBroker();
      listeners.clear();
      broker.onEnvelope((roomId, envelope) => listeners.get(roomId)?.push(envelope));
      return Promise.resolve(new MemoryMessagesRepository(broker, { ...DEFAULTS, ...options }));
    },
    async listen(roomId) {
      const c = collector();
      listeners.set(roomId, c);
      await broker.subscribe(roomId);
      return c;
    },
    stop: () => Promise.resolve(),
  };
}

function redisDriver(): Driver {
  let server: RedisServer | undefined;
  let client: Redis | undefined;
  const subscribers: Redis[] = [];
  return {
    async start() {
      server = await startRedis();
      client = new Redis(server.url);
    },
    async fresh(options = {}) {
      for (const s of subscribers.splice(0)) await s.quit();
      await client!.flushall();
      return new RedisMessagesRepository(client!, { ...DEFAULTS, ...options, publishCommand: 'PUBLISH' });
    },
    async listen(roomId) {
      const sub = new Redis(server!.url);
      subscribers.push(sub);
      const c = collector();
      const channel = redisKeys.roomChannel(roomId);
      sub.on('message', (ch: string, message: string) => {
        if (ch === channel) c.push(message);
      });
      await sub.subscribe(channel);
      return c;
    },
    async stop() {
      for (const s of subscribers.splice(0)) await s.quit();
      await client?.quit();
      await server?.stop();
    },
  };
}

const RFC3339_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const MESSAGE_KEYS = ['id', 'room_id', 'user_id', 'content', 'type', 'created_at'];

function msg(roomId: string, content: string, extra: Partial<NewMessage> = {}): NewMessage {
  return { roomId, userId: 'user-1', content, type: 'text', ...extra };
}

function parsePage(page: string[]): Message[] {
  return page.map((json) => JSON.parse(json) as Message);
}

describeContract('MessagesRepository contract', { memory: memoryDriver, redis: redisDriver }, (t) => {
  /** append(), with the answered JSON text parsed too. */
  async function send(input: NewMessage): Promise<{ json: string; message: Message; duplicate: boolean }> {
    const { json, duplicate } = await t.repo.append(input);
    return { json, message: JSON.parse(json) as Message, duplicate };
  }

  async function appendMany(roomId: string, n: number): Promise<Message[]> {
    const out: Message[] = [];
    for (let i = 1; i <= n; i++) out.push((await send(msg(roomId, `m${i}`))).message);
    return out;
  }

  describe('append', () => {
    it('stores a message and answers it with every field of the contract', async () => {
      const before = Date.now();
      const { message, duplicate } = await send(msg('room-a', 'Hello'));
      expect(duplicate).toBe(false);
      expect(Object.keys(message)).toEqual(MESSAGE_KEYS);
      expect(message).toEqual({
        id: expect.any(String),
        room_id: 'room-a',
        user_id: 'user-1',
        content: 'Hello',
        type: 'text',
        created_at: expect.stringMatching(RFC3339_MS),
      });
      const at = Date.parse(message.created_at);
      expect(at).toBeGreaterThanOrEqual(before - 2000);
      expect(at).toBeLessThanOrEqual(Date.now() + 2000);
      expect(new Date(at).toISOString()).toBe(message.created_at);
    });

    it('stores exactly the answered JSON text, keys in contract order', async () => {
      const { json, message } = await send(msg('room-a', 'Hello', { type: 'image' }));
      const { page } = await t.repo.range('room-a', 1, Number.MAX_SAFE_INTEGER, 10);
      expect(page).toEqual([json]);
      expect(Object.keys(message)).toEqual(MESSAGE_KEYS);
      expect(json).toBe(JSON.stringify(message));
    });

    it('keeps client_msg_id as part of the stored message when given', async () => {
      const { message } = await send(msg('room-a', 'Hi', { clientMsgId: 'c-1' }));
      expect(message.client_msg_id).toBe('c-1');
      expect(Object.keys(message)).toEqual([...MESSAGE_KEYS, 'client_msg_id']);
      const { page } = await t.repo.range('room-a', 1, Number.MAX_SAFE_INTEGER, 10);
      expect(parsePage(page)).toEqual([message]);
    });

    it('gives ids that increase in room order, numerically and as strings', async () => {
      const messages = await appendMany('room-a', 12);
      const ids = messages.map((m) => m.id);
      expect(new Set(ids).size).toBe(12);
      expect([...ids].sort()).toEqual(ids);
      for (let i = 1; i < ids.length; i++) expect(ids[i] > ids[i - 1]).toBe(true);
      const stamps = messages.map((m) => Date.parse(m.created_at));
      for (let i = 1; i < stamps.length; i++) expect(stamps[i]).toBeGreaterThanOrEqual(stamps[i - 1]);
    });

    it('numbers each room on its own and never reuses an id across rooms', async () => {
      const a = await appendMany('room-a', 3);
      const b = await appendMany('room-b', 2);
      const all = [...a, ...b].map((m) => m.id);
      expect(new Set(all).size).toBe(5);
      expect(b.every((m) => m.room_id === 'room-b')).toBe(true);
      expect(parsePage((await t.repo.range('room-a', 1, Number.MAX_SAFE_INTEGER, 10)).page)).toEqual(a);
      expect(parsePage((await t.repo.range('room-b', 1, Number.MAX_SAFE_INTEGER, 10)).page)).toEqual(b);
    });

    it('round-trips emoji, escapes and control characters exactly', async () => {
      const content = '👋🏽 héllo 𝄞 "quoted" \\ back\\slash\n\ttab \u0000 nul \u2028 日本語 \ud83d lone  ';
      const { message } = await send(msg('room-a', content));
      expect(message.content).toBe(content);
      const { page } = await t.repo.range('room-a', 1, Number.MAX_SAFE_INTEGER, 10);
      expect(parsePage(page)[0].content).toBe(content);
    });

    it('keeps the message type', async () => {
      await t.repo.append(msg('room-a', 'https://example.com/a.png', { type: 'image' }));
      await t.repo.append(msg('room-a', 'file-ref-1', { type: 'file' }));
      const { page } = await t.repo.range('room-a', 1, Number.MAX_SAFE_INTEGER, 10);
      expect(parsePage(page).map((m) => m.type)).toEqual(['image', 'file']);
    });
  });

  describe('rangeJson (the GET /messages answer)', () => {
    it('is the same messages as range(), as the bytes of one JSON array', async () => {
      await send(msg('room-a', '👋🏽 héllo 𝄞 "quoted" \\ \n 日本語'));
      await appendMany('room-a', 4);
      for (const [from, to, limit] of [
        [1, Number.MAX_SAFE_INTEGER, 3],
        [1, Number.MAX_SAFE_INTEGER, 50],
        [2, 4, 50],
        [5, 5, 1],
      ]) {
        const { page } = await t.repo.range('room-a', from, to, limit);
        const json = await t.repo.rangeJson('room-a', from, to, limit);
        expect({ range: [from, to, limit], json: json.toString('utf8') }).toEqual({
          range: [from, to, limit],
          json: `[${page.join(',')}]`,
        });
        expect(json.length).toBe(Buffer.byteLength(`[${page.join(',')}]`));
      }
      expect((JSON.parse((await t.repo.rangeJson('room-a', 1, 1, 1)).toString()) as Message[])[0].content).toBe(
        '👋🏽 héllo 𝄞 "quoted" \\ \n 日本語',
      );
    });

    it('is [] for a room without messages and for a range past the newest', async () => {
      await appendMany('room-a', 2);
      expect((await t.repo.rangeJson('room-empty', 1, Number.MAX_SAFE_INTEGER, 50)).toString()).toBe('[]');
      expect((await t.repo.rangeJson('room-a', 3, 10, 50)).toString()).toBe('[]');
    });
  });

  describe('retention', () => {
    it('keeps exactly the newest N messages of a room', async () => {
      t.repo = await t.driver.fresh({ retention: 5 });
      const messages = await appendMany('room-a', 8);
      const r = await t.repo.range('room-a', 1, Number.MAX_SAFE_INTEGER, 100);
      expect(parsePage(r.page)).toEqual(messages.slice(3));
      expect(r.first).toBe(4);
      expect(r.last).toBe(8);
    });

    it('keeps everything up to N', async () => {
      t.repo = await t.driver.fresh({ retention: 5 });
      const messages = await appendMany('room-a', 5);
      const r = await t.repo.range('room-a', 1, Number.MAX_SAFE_INTEGER, 100);
      expect(parsePage(r.page)).toEqual(messages);
      expect(r.first).toBe(1);
    });

    it('trims one room without touching another', async () => {
      t.repo = await t.driver.fresh({ retention: 2 });
      const a = await appendMany('room-a', 4);
      const b = await appendMany('room-b', 1);
      expect(parsePage((await t.repo.range('room-a', 1, Number.MAX_SAFE_INTEGER, 100)).page)).toEqual(a.slice(2));
      expect(parsePage((await t.repo.range('room-b', 1, Number.MAX_SAFE_INTEGER, 100)).page)).toEqual(b);
    });

    it('answers nothing for a range that was trimmed away', async () => {
      t.repo = await t.driver.fresh({ retention: 3 });
      await appendMany('room-a', 6);
      const r = await t.repo.range('room-a', 1, 3, 10);
      expect(r.page).toEqual([]);
      expect(r.first).toBe(4);
      expect(r.last).toBe(6);
    });
  });

  describe('range', () => {
    let messages: Message[];

    beforeEach(async () => {
      messages = await appendMany('room-a', 10);
    });

    const seqs = (page: string[]) => parsePage(page).map((m) => Number(m.content.slice(1)));

    it('answers the window of an empty or unknown room', async () => {
      await expect(t.repo.range('room-empty', 1, Number.MAX_SAFE_INTEGER, 50)).resolves.toEqual({
        first: 1,
        last: 0,
        page: [],
      });
    });

    it('answers the retained window with the page', async () => {
      const r = await t.repo.range('room-a', 1, Number.MAX_SAFE_INTEGER, 50);
      expect(r.first).toBe(1);
      expect(r.last).toBe(10);
      expect(parsePage(r.page)).toEqual(messages);
    });

    it('answers the newest `limit` of the range, oldest first', async () => {
      expect(seqs((await t.repo.range('room-a', 1, Number.MAX_SAFE_INTEGER, 3)).page)).toEqual([8, 9, 10]);
      expect(seqs((await t.repo.range('room-a', 2, 5, 2)).page)).toEqual([4, 5]);
      expect(seqs((await t.repo.range('room-a', 1, 1, 5)).page)).toEqual([1]);
    });

    it('answers every message of a range inside the window', async () => {
      expect(seqs((await t.repo.range('room-a', 2, 5, 100)).page)).toEqual([2, 3, 4, 5]);
      expect(seqs((await t.repo.range('room-a', 10, 10, 100)).page)).toEqual([10]);
    });

    it('clips a range that reaches outside the window', async () => {
      expect(seqs((await t.repo.range('room-a', -5, 3, 100)).page)).toEqual([1, 2, 3]);
      expect(seqs((await t.repo.range('room-a', 8, 50, 100)).page)).toEqual([8, 9, 10]);
      expect(seqs((await t.repo.range('room-a', 8, 50, 2)).page)).toEqual([9, 10]);
    });

    it('answers nothing for a range past the newest message or an empty range', async () => {
      const past = await t.repo.range('room-a', 11, 20, 10);
      expect(past).toEqual({ first: 1, last: 10, page: [] });
      expect((await t.repo.range('room-a', 5, 4, 10)).page).toEqual([]);
      expect((await t.repo.range('room-a', -10, 0, 10)).page).toEqual([]);
    });
  });

  describe('idempotency', () => {
    it('answers a repeat of room, user and client_msg_id with the original message, stored once', async () => {
      const first = await send(msg('room-a', 'Hello', { clientMsgId: 'c-1' }));
      const again = await send(msg('room-a', 'Hello again', { clientMsgId: 'c-1', type: 'file' }));
      expect(first.duplicate).toBe(false);
      expect(again.duplicate).toBe(true);
      expect(again.json).toBe(first.json);
      const { page, last } = await t.repo.range('room-a', 1, Number.MAX_SAFE_INTEGER, 10);
      expect(page).toEqual([first.json]);
      expect(last).toBe(1);
    });

    it('stores a new message for the same client_msg_id from another user', async () => {
      const first = await send(msg('room-a', 'Hello', { clientMsgId: 'c-1' }));
      const other = await send(msg('room-a', 'Hello', { clientMsgId: 'c-1', userId: 'user-2' }));
      expect(other.duplicate).toBe(false);
      expect(other.message.id).not.toBe(first.message.id);
      expect(other.message.user_id).toBe('user-2');
      expect((await t.repo.range('room-a', 1, Number.MAX_SAFE_INTEGER, 10)).page).toHaveLength(2);
    });

    it('stores a new message for the same client_msg_id in another room', async () => {
      await t.repo.append(msg('room-a', 'Hello', { clientMsgId: 'c-1' }));
      const other = await send(msg('room-b', 'Hello', { clientMsgId: 'c-1' }));
      expect(other.duplicate).toBe(false);
      expect(other.message.room_id).toBe('room-b');
    });

    it('stores a new message for another client_msg_id of the same user', async () => {
      await t.repo.append(msg('room-a', 'Hello', { clientMsgId: 'c-1' }));
      const other = await send(msg('room-a', 'Hello', { clientMsgId: 'c-2' }));
      expect(other.duplicate).toBe(false);
      expect((await t.repo.range('room-a', 1, Number.MAX_SAFE_INTEGER, 10)).page).toHaveLength(2);
    });

    it('does not deduplicate messages without client_msg_id', async () => {
      const a = await send(msg('room-a', 'same'));
      const b = await send(msg('room-a', 'same'));
      expect(b.duplicate).toBe(false);
      expect(b.message.id).not.toBe(a.message.id);
    });

    it('keeps user ids and client_msg_ids with separators apart', async () => {
      const a = await send(msg('room-a', 'x', { userId: 'u:1', clientMsgId: '2:c' }));
      const b = await send(msg('room-a', 'x', { userId: 'u', clientMsgId: '1:2:c' }));
      expect(a.duplicate).toBe(false);
      expect(b.duplicate).toBe(false);
    });

    it('forgets a client_msg_id after the idempotency TTL', async () => {
      t.repo = await t.driver.fresh({ idempotencyTtlSeconds: 1 });
      const first = await send(msg('room-a', 'Hello', { clientMsgId: 'c-1' }));
      await new Promise((r) => setTimeout(r, 1200));
      const later = await send(msg('room-a', 'Hello', { clientMsgId: 'c-1' }));
      expect(later.duplicate).toBe(false);
      expect(later.message.id).not.toBe(first.message.id);
    });
  });

  describe('publish', () => {
    it('publishes m<seq>\\n<stored json> on the room channel for every stored message', async () => {
      const listener = await t.driver.listen('room-a');
      const one = await send(msg('room-a', 'one'));
      const two = await send(msg('room-a', 'two 👋'));
      const envelopes = await listener.waitFor(2);
      const { page } = await t.repo.range('room-a', 1, Number.MAX_SAFE_INTEGER, 10);
      expect(envelopes).toEqual([`m1\n${page[0]}`, `m2\n${page[1]}`]);
      expect(JSON.parse(envelopes[0].slice(3))).toEqual(one.message);
      expect(JSON.parse(envelopes[1].slice(3))).toEqual(two.message);
    });

    it('does not publish a duplicate again', async () => {
      const listener = await t.driver.listen('room-a');
      await t.repo.append(msg('room-a', 'one', { clientMsgId: 'c-1' }));
      await t.repo.append(msg('room-a', 'one', { clientMsgId: 'c-1' }));
      await t.repo.append(msg('room-a', 'two'));
      const envelopes = await listener.waitFor(2);
      // Publication order is storage order, so a republished duplicate would arrive before "two".
      expect(envelopes.map((e) => e.split('\n')[0])).toEqual(['m1', 'm2']);
      expect(JSON.parse(envelopes[1].slice(3)).content).toBe('two');
    });

    it('publishes only on the channel of the message room', async () => {
      const a = await t.driver.listen('room-a');
      const b = await t.driver.listen('room-b');
      await t.repo.append(msg('room-b', 'for b'));
      await t.repo.append(msg('room-a', 'for a'));
      await a.waitFor(1);
      await b.waitFor(1);
      expect(a.envelopes).toHaveLength(1);
      expect(b.envelopes).toHaveLength(1);
      expect(JSON.parse(a.envelopes[0].slice(3)).content).toBe('for a');
      expect(JSON.parse(b.envelopes[0].slice(3)).content).toBe('for b');
    });

    it('numbers envelopes by the room sequence, also after trimming', async () => {
      t.repo = await t.driver.fresh({ retention: 2 });
      const listener = await t.driver.listen('room-a');
      await appendMany('room-a', 4);
      const envelopes = await listener.waitFor(4);
      expect(envelopes.map((e) => e.split('\n')[0])).toEqual(['m1', 'm2', 'm3', 'm4']);
    });
  });
});
