import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { WebSocket } from 'ws';
import type { Env } from '../../src/config/env.schema.js';
import { ChatConnection } from '../../src/realtime/chat-connection.js';
import {
  CLOSE_INTERNAL,
  CLOSE_SLOW_CONSUMER,
  ConnectionHub,
  type GapFiller,
} from '../../src/realtime/connection-hub.js';
import { MemoryRoomBroker } from '../../src/realtime/room-broker.js';
import { eventEnvelope, messageEnvelope } from '../../src/realtime/room-event.js';

/**
 * The hub on this instance: history then buffered events, dedupe against the
 * history, per-room sequence checks with gap fills from storage, and slow consumers.
 * Real MemoryRoomBroker; sockets are small stand-ins that record what is written.
 */

const MAX_BUFFERED = 1024;
const ROOM = 'room1';

/** Records writes and closes like a `ws` socket would expose them to the hub. */
class FakeSocket {
  readyState = 1;
  bufferedAmount = 0;
  readonly sent: string[] = [];
  readonly closes: { code: number; reason: string }[] = [];
  terminated = false;

  send(data: Buffer | string): void {
    this.sent.push(data.toString());
  }

  close(code: number, reason: string): void {
    this.closes.push({ code, reason });
    this.readyState = 2;
  }

  terminate(): void {
    this.terminated = true;
    this.readyState = 3;
  }

  once(): this {
    return this;
  }

  on(): this {
    return this;
  }
}

/**
 * A socket whose frames go straight to its TCP socket, as the hub writes them when
 * ws' sender is idle: records cork, uncork and each frame's text, in call order.
 * Like a TCP socket, what is written while corked counts as buffered until the
 * uncork hands it to the kernel (which here takes everything).
 */
class DirectSocket extends FakeSocket {
  readonly tcp: string[] = [];
  readonly _sender = { _state: 0 };
  private isCorked = false;
  readonly _socket = {
    cork: () => {
      this.isCorked = true;
      this.tcp.push('cork');
    },
    uncork: () => {
      this.isCorked = false;
      this.bufferedAmount = 0;
      this.tcp.push('uncork');
    },
    write: (frame: Buffer) => {
      if (this.isCorked) this.bufferedAmount += frame.length;
      // Server frames: a 2-byte header, 4 bytes from 126 bytes of payload on.
      this.tcp.push(frame.subarray((frame[1] & 0x7f) === 126 ? 4 : 2).toString());
    },
  };
}

/** A broker whose transport "reconnects" on demand (the memory bus never does). */
class ReconnectingBroker extends MemoryRoomBroker {
  private resyncHandler: () => void = () => undefined;

  override onResync(handler?: () => void): void {
    if (handler) this.resyncHandler = handler;
  }

  reconnected(): void {
    this.resyncHandler();
  }
}

const msg = (seq: number) => JSON.stringify({ id: `${ROOM}.${String(seq).padStart(10, '0')}`, content: `m${seq}` });
const event = (name: string) => JSON.stringify({ type: 'system', event: name });
const history = (...seqs: number[]) => `{"type":"history","messages":[${seqs.map(msg).join(',')}]}`;

function setUp(broker: MemoryRoomBroker = new MemoryRoomBroker()) {
  const config = new ConfigService({ WS_MAX_BUFFERED: MAX_BUFFERED }) as ConfigService<Env, true>;
  const hub = new ConnectionHub(broker, config);
  /** Attaches a connection (pending) and returns it with its socket. */
  const connect = async <S extends FakeSocket = FakeSocket>(userId: string, roomId = ROOM, socket?: S) => {
    socket ??= new FakeSocket() as S;
    const conn = new ChatConnection(socket as unknown as WebSocket, roomId, userId);
    await hub.attach(conn);
    return { conn, socket };
  };
  /** Attaches a connection and takes it live with an empty history at sequence `lastSeq`. */
  const live = async (userId: string, lastSeq = 0) => {
    const c = await connect(userId);
    hub.goLive(c.conn, history(), lastSeq);
    c.socket.sent.length = 0;
    return c;
  };
  const publish = (seq: number) => broker.publishNow(ROOM, messageEnvelope(seq, msg(seq)));
  return { hub, broker, connect, live, publish };
}

/** A promise with its resolve and reject handed out. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe(ConnectionHub.name, () => {
  beforeAll(() => {
    // The hub logs every gap fill and slow consumer; the assertions say what happened.
    Logger.overrideLogger(false);
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  describe('going live', () => {
    it('writes the history frame first, then what arrived while pending, in arrival order', async () => {
      const { hub, broker, connect, publish } = setUp();
      const { conn, socket } = await connect('u1');
      publish(1);
      broker.publishNow(ROOM, eventEnvelope('u2', event('join')));
      publish(2);
      expect(socket.sent).toEqual([]);

      hub.goLive(conn, history(), 0);

      expect(socket.sent).toEqual([history(), msg(1), event('join'), msg(2)]);
      expect(conn.state).toBe('live');
      publish(3);
      expect(socket.sent.at(-1)).toBe(msg(3));
    });

    it('drops buffered messages the history frame already holds and keeps buffered events', async () => {
      const { hub, broker, connect, publish } = setUp();
      const { conn, socket } = await connect('u1');
      publish(1);
      broker.publishNow(ROOM, eventEnvelope('u2', event('typing')));
      publish(2);
      publish(3);

      hub.goLive(conn, history(1, 2), 2);

      expect(socket.sent).toEqual([history(1, 2), event('typing'), msg(3)]);
    });

    it('does not write a live message that the history frame held when its notice arrives late', async () => {
      const { hub, connect, live, publish } = setUp();
      const early = await live('u0');
      publish(1);
      const { conn, socket } = await connect('u1');
      // The history was read after messages 2 and 3 were stored, before their notices arrived.
      hub.goLive(conn, history(1, 2, 3), 3);
      publish(2);
      publish(3);
      publish(4);

      expect(socket.sent).toEqual([history(1, 2, 3), msg(4)]);
      expect(early.socket.sent).toEqual([msg(1), msg(2), msg(3), msg(4)]);
    });

    it('writes nothing to a connection that closed while pending', async () => {
      const { hub, connect, publish } = setUp();
      const { conn, socket } = await connect('u1');
      publish(1);
      hub.detach(conn);
      hub.goLive(conn, history(), 0);
      publish(2);

      expect(socket.sent).toEqual([]);
      expect(hub.connectionCount).toBe(0);
    });
  });

  describe('fan-out', () => {
    it('does not send an event to the connections of the user it leaves out', async () => {
      const { broker, live } = setUp();
      const tab1 = await live('alice');
      const tab2 = await live('alice');
      const other = await live('bob');

      broker.publishNow(ROOM, eventEnvelope('alice', event('join')));

      expect(tab1.socket.sent).toEqual([]);
      expect(tab2.socket.sent).toEqual([]);
      expect(other.socket.sent).toEqual([event('join')]);
    });

    it('sends messages to every connection of the room, the sender included, and to no other room', async () => {
      const { broker, connect, hub, live, publish } = setUp();
      const a = await live('alice');
      const b = await live('bob');
      const elsewhere = await connect('carol', 'room2');
      hub.goLive(elsewhere.conn, history(), 0);
      elsewhere.socket.sent.length = 0;

      publish(1);
      broker.publishNow('room2', messageEnvelope(1, 'other room'));

      expect(a.socket.sent).toEqual([msg(1)]);
      expect(b.socket.sent).toEqual([msg(1)]);
      expect(elsewhere.socket.sent).toEqual(['other room']);
    });

    it('never moves the sequence for events, so an event between two messages is no gap', async () => {
      const { hub, broker, live, publish } = setUp();
      const filler = jest.fn<GapFiller>();
      hub.setGapFiller(filler);
      const { socket } = await live('u1');

      publish(1);
      broker.publishNow(ROOM, eventEnvelope('u2', event('join')));
      broker.publishNow(ROOM, eventEnvelope('u2', event('typing')));
      publish(2);
      broker.publishNow(ROOM, eventEnvelope('u2', event('leave')));
      publish(3);

      expect(filler).not.toHaveBeenCalled();
      expect(socket.sent).toEqual([msg(1), event('join'), event('typing'), msg(2), event('leave'), msg(3)]);
    });

    it('writes a burst to a socket at once, then corked until the turn ends, in order', async () => {
      const { connect, hub, publish } = setUp();
      const { conn, socket } = await connect('u1', ROOM, new DirectSocket());
      hub.goLive(conn, history(), 0);
      await new Promise((resolve) => process.nextTick(resolve));
      expect(socket.tcp).toEqual([history()]);
      socket.tcp.length = 0;

      publish(1);
      publish(2);
      publish(3);
      expect(socket.tcp).toEqual([msg(1), 'cork', msg(2), msg(3)]);
      await new Promise((resolve) => process.nextTick(resolve));
      expect(socket.tcp).toEqual([msg(1), 'cork', msg(2), msg(3), 'uncork']);

      // A later turn with one frame writes it without corking.
      publish(4);
      await new Promise((resolve) => process.nextTick(resolve));
      expect(socket.tcp.slice(5)).toEqual([msg(4)]);
    });

    it('does not take a burst held behind the cork for a slow consumer', async () => {
      const { broker, connect, hub } = setUp();
      const { conn, socket } = await connect('u1', ROOM, new DirectSocket());
      hub.goLive(conn, history(), 0);
      await new Promise((resolve) => process.nextTick(resolve));
      socket.tcp.length = 0;

      // Four frames of about 530 bytes in one turn: the fourth is written with over WS_MAX_BUFFERED corked.
      const big = (seq: number) => JSON.stringify({ seq, pad: 'p'.repeat(MAX_BUFFERED / 2) });
      for (let seq = 1; seq <= 4; seq++) broker.publishNow(ROOM, messageEnvelope(seq, big(seq)));
      expect(socket.bufferedAmount).toBeGreaterThan(MAX_BUFFERED);
      await new Promise((resolve) => process.nextTick(resolve));

      expect(socket.closes).toEqual([]);
      expect(socket.tcp).toEqual([big(1), 'cork', big(2), big(3), big(4), 'uncork']);
    });

    it('drops a repeated message notice (a sequence it has delivered already)', async () => {
      const { hub, live, publish } = setUp();
      const filler = jest.fn<GapFiller>();
      hub.setGapFiller(filler);
      const { socket } = await live('u1');

      publish(1);
      publish(2);
      publish(2);
      publish(1);
      publish(3);

      expect(socket.sent).toEqual([msg(1), msg(2), msg(3)]);
      expect(filler).not.toHaveBeenCalled();
    });
  });

  describe('gaps in the live stream', () => {
    it('fills a skipped sequence from storage before anything newer, holding later events meanwhile', async () => {
      const { hub, broker, live, publish } = setUp();
      const fill = deferred<{ fromSeq: number; page: string[] }>();
      const filler = jest.fn<GapFiller>(() => fill.promise);
      hub.setGapFiller(filler);
      const a = await live('u1');
      const b = await live('u2');

      publish(1);
      publish(3);
      publish(4);
      broker.publishNow(ROOM, eventEnvelope('u3', event('join')));

      expect(filler).toHaveBeenCalledTimes(1);
      expect(filler).toHaveBeenCalledWith(ROOM, 2, 2);
      expect(a.socket.sent).toEqual([msg(1)]);

      fill.resolve({ fromSeq: 2, page: [msg(2)] });
      await fill.promise;
      await new Promise((r) => setImmediate(r));

      for (const { socket } of [a, b]) expect(socket.sent).toEqual([msg(1), msg(2), msg(3), msg(4), event('join')]);
      publish(5);
      expect(a.socket.sent.at(-1)).toBe(msg(5));
      expect(filler).toHaveBeenCalledTimes(1);
    });

    it('fills a gap of several messages and delivers each once when notices of filled ones arrive late', async () => {
      const { hub, live, publish } = setUp();
      const fill = deferred<{ fromSeq: number; page: string[] }>();
      const filler = jest.fn<GapFiller>(() => fill.promise);
      hub.setGapFiller(filler);
      const { socket } = await live('u1');

      publish(1);
      publish(5);
      publish(3);
      publish(6);
      expect(filler).toHaveBeenCalledWith(ROOM, 2, 4);

      fill.resolve({ fromSeq: 2, page: [msg(2), msg(3), msg(4)] });
      await fill.promise;
      await new Promise((r) => setImmediate(r));

      expect(socket.sent).toEqual([msg(1), msg(2), msg(3), msg(4), msg(5), msg(6)]);
    });

    it('closes the room\'s sockets with 1011 when the gap cannot be filled after its retries', async () => {
      jest.useFakeTimers();
      const { hub, live, publish } = setUp();
      const filler = jest.fn<GapFiller>(() => Promise.reject(new Error('storage down')));
      hub.setGapFiller(filler);
      const a = await live('u1');
      const b = await live('u2');

      publish(1);
      publish(3);
      await jest.advanceTimersByTimeAsync(1000);
      expect(a.socket.closes).toEqual([]);

      await jest.advanceTimersByTimeAsync(10_000);

      expect(filler.mock.calls.length).toBeGreaterThan(1);
      for (const call of filler.mock.calls) expect(call).toEqual([ROOM, 2, 2]);
      for (const { socket } of [a, b]) {
        expect(socket.closes).toEqual([{ code: CLOSE_INTERNAL, reason: 'Missed messages; reconnect with ?since=' }]);
        // Nothing after the gap reached them: message 3 without message 2 would be a silent loss.
        expect(socket.sent).toEqual([msg(1)]);
      }
    });

    it('after the transport reconnects, fetches what each room missed since its last live message', async () => {
      const broker = new ReconnectingBroker();
      const { hub, live, publish } = setUp(broker);
      const filler = jest.fn<GapFiller>(() => Promise.resolve({ fromSeq: 3, page: [msg(3), msg(4)] }));
      hub.setGapFiller(filler);
      const { socket } = await live('u1');
      publish(1);
      publish(2);

      broker.reconnected();
      await new Promise((r) => setImmediate(r));

      expect(filler).toHaveBeenCalledWith(ROOM, 3, Number.MAX_SAFE_INTEGER);
      expect(socket.sent).toEqual([msg(1), msg(2), msg(3), msg(4)]);
      publish(4);
      publish(5);
      expect(socket.sent).toEqual([msg(1), msg(2), msg(3), msg(4), msg(5)]);
    });

    it('after the transport reconnects, fetches what a room missed even if it has had no live message since its history', async () => {
      const broker = new ReconnectingBroker();
      const { hub, connect, publish } = setUp(broker);
      const filler = jest.fn<GapFiller>((_room, fromSeq) =>
        Promise.resolve({ fromSeq, page: [3, 4].filter((s) => s >= fromSeq).map(msg) }),
      );
      hub.setGapFiller(filler);
      const { conn, socket } = await connect('u1');
      // The history held messages 1 and 2; then the subscriber lost messages 3 and 4.
      hub.goLive(conn, history(1, 2), 2);

      broker.reconnected();
      await new Promise((r) => setImmediate(r));
      publish(5);
      await new Promise((r) => setImmediate(r));

      expect(socket.sent).toEqual([history(1, 2), msg(3), msg(4), msg(5)]);
    });
  });

  describe('slow consumers', () => {
    it('closes a socket with 1013 when its unsent buffer is over WS_MAX_BUFFERED before a write, and the room goes on', async () => {
      jest.useFakeTimers();
      const { live, publish } = setUp();
      const slow = await live('slow');
      const fast = await live('fast');
      slow.socket.bufferedAmount = MAX_BUFFERED + 1;

      publish(1);

      expect(slow.socket.sent).toEqual([]);
      expect(slow.socket.closes).toEqual([{ code: CLOSE_SLOW_CONSUMER, reason: 'Slow consumer' }]);
      expect(fast.socket.sent).toEqual([msg(1)]);
      expect(slow.socket.terminated).toBe(false);
      await jest.advanceTimersByTimeAsync(5000);
      expect(slow.socket.terminated).toBe(true);
    });

    it('writes a single frame larger than WS_MAX_BUFFERED to an idle socket', async () => {
      const { hub, connect, broker } = setUp();
      const { conn, socket } = await connect('u1');
      const big = `{"type":"history","messages":[],"pad":"${'x'.repeat(MAX_BUFFERED * 4)}"}`;

      hub.goLive(conn, big, 0);
      broker.publishNow(ROOM, messageEnvelope(1, `{"pad":"${'y'.repeat(MAX_BUFFERED * 2)}"}`));

      expect(socket.sent).toHaveLength(2);
      expect(socket.sent[0]).toBe(big);
      expect(socket.closes).toEqual([]);
    });

    it('still writes when the unsent buffer is exactly WS_MAX_BUFFERED', async () => {
      const { live, publish } = setUp();
      const { socket } = await live('u1');
      socket.bufferedAmount = MAX_BUFFERED;

      publish(1);

      expect(socket.sent).toEqual([msg(1)]);
      expect(socket.closes).toEqual([]);
    });
  });
});
