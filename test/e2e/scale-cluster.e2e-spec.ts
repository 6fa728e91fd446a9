import type { TestServer } from '../support/app.js';
import { e2eFixture } from '../support/fixture.js';
import { type RedisCluster, redisCli } from '../support/redis-cluster.js';
import {
  chatRest,
  connectWs,
  type Frame,
  roomWsUrl,
  type TestSocket,
} from '../support/ws-client.js';

/**
 * SPEC §5 on a Redis Cluster (REDIS_CLUSTER_NODES): two server processes on a
 * three-master cluster serve the core flow in rooms spread over every master; the
 * keys of one room share one hash slot, and fan-out uses sharded pub/sub on the
 * room's own master.
 */

const MIN_ROOMS = 12;
const MAX_ROOMS = 40;
const SERVER_ENV = { RATE_LIMIT_LIMIT: '100000', WS_RATE_LIMIT: '10000' };

// The tests share the sockets opened in beforeAll: the fixture closes them after the last one.
const fixture = e2eFixture();
let cluster: RedisCluster;
let a: TestServer;
let b: TestServer;

beforeAll(async () => {
  cluster = await fixture.startRedisCluster(3);
  a = await fixture.startServer({ ...SERVER_ENV, REDIS_CLUSTER_NODES: cluster.nodes });
  b = await fixture.startServer({ ...SERVER_ENV, REDIS_CLUSTER_NODES: cluster.nodes });
}, 90_000);

const isMessage = (f: Frame) => typeof f.id === 'string' && ['text', 'image', 'file'].includes(f.type);
const isSystem = (event: string, userId: string) => (f: Frame) =>
  f.type === 'system' && f.event === event && f.user_id === userId;

async function eventually(what: string, timeoutMs: number, check: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let slotMap: { port: number; ranges: [number, number][] }[] | undefined;

/** Which master port serves which slot ranges, from `CLUSTER NODES` (read once: nothing moves slots here). */
function slotOwners(): { port: number; ranges: [number, number][] }[] {
  slotMap ??= redisCli(cluster.ports[0], 'CLUSTER', 'NODES')
    .split('\n')
    .filter((line) => line.includes('master'))
    .map((line) => {
      const fields = line.trim().split(' ');
      const port = Number(fields[1].split('@')[0].split(':')[1]);
      const ranges = fields.slice(8).filter((f) => /^\d+(-\d+)?$/.test(f)).map((f) => {
        const [lo, hi] = f.split('-').map(Number);
        return [lo, hi ?? lo] as [number, number];
      });
      return { port, ranges };
    });
  return slotMap;
}

const keySlot = (key: string) => Number(redisCli(cluster.ports[0], 'CLUSTER', 'KEYSLOT', key));

function masterOf(slot: number): number {
  const owner = slotOwners().find((o) => o.ranges.some(([lo, hi]) => slot >= lo && slot <= hi));
  if (!owner) throw new Error(`no master serves slot ${slot}`);
  return owner.port;
}

/** The `{r:…}` keys stored on one node. */
const roomKeysOn = (port: number) =>
  redisCli(port, '--scan', '--pattern', '{r:*').split('\n').filter((k) => k !== '');

async function join(server: TestServer, roomId: string, userId: string, since?: string): Promise<TestSocket> {
  const socket = await connectWs(roomWsUrl(server.wsUrl, roomId, userId, since));
  const history = await socket.next();
  expect(history.type).toBe('history');
  return socket;
}

describe('two instances on a three-master Redis Cluster', () => {
  const rooms: { id: string }[] = [];
  let alice: { id: string };
  let bob: { id: string };
  let carol: { id: string };
  /** Per room: alice's socket on A and bob's socket on B. */
  const onA: TestSocket[] = [];
  const onB: TestSocket[] = [];

  beforeAll(async () => {
    const viaA = chatRest(a.baseUrl);
    const viaB = chatRest(b.baseUrl);
    // Room ids are random: create rooms until every master owns some (at least MIN_ROOMS).
    const owners = new Set<number>();
    while (rooms.length < MIN_ROOMS || (owners.size < cluster.ports.length && rooms.length < MAX_ROOMS)) {
      const room = await (rooms.length % 2 === 0 ? viaA : viaB).room(`Cluster ${rooms.length}`);
      rooms.push(room);
      owners.add(masterOf(keySlot(`{r:${room.id}}:seq`)));
    }
    alice = await viaA.user('alice');
    bob = await viaB.user('bob');
    carol = await viaA.user('carol');
    for (const room of rooms) {
      onA.push(await join(a, room.id, alice.id));
      onB.push(await join(b, room.id, bob.id));
    }
  }, 60_000);

  it('delivers REST and socket sends in every room to both instances once each, in the order GET returns', async () => {
    await Promise.all(
      rooms.map(async (room, i) => {
        await chatRest(a.baseUrl).post(room.id, { content: `rest A ${i}`, user_id: alice.id });
        await onB[i].send({ type: 'text', content: `socket B ${i}` });
        await chatRest(b.baseUrl).post(room.id, { content: `rest B ${i}`, user_id: bob.id, type: 'file' });
        await onA[i].send({ type: 'image', content: `socket A ${i}`, user_id: alice.id });
      }),
    );

    for (const [i, room] of rooms.entries()) {
      const stored = await chatRest(a.baseUrl).messages(room.id);
      expect(stored.map((m) => m.content).sort()).toEqual([`rest A ${i}`, `rest B ${i}`, `socket A ${i}`, `socket B ${i}`].sort());
      expect(await chatRest(b.baseUrl).messages(room.id)).toEqual(stored);
      for (const socket of [onA[i], onB[i]]) {
        await socket.received((f) => f.id === stored[3].id, 5000, `the last message of room ${i}`);
        expect(socket.frames.filter(isMessage)).toEqual(stored);
      }
    }
  });

  it('announces joins across instances in every room', async () => {
    for (const [i] of rooms.entries()) {
      await onA[i].received(isSystem('join', bob.id), 3000, `bob's join in room ${i}`);
      expect(onA[i].frames.filter(isSystem('join', bob.id))).toHaveLength(1);
      expect(onB[i].frames.filter((f) => f.type === 'system' && f.user_id === bob.id)).toEqual([]);
    }
  });

  it('stores room keys on every master, and all keys of one room in one slot on one master', async () => {
    const byMaster = cluster.ports.map((port) => ({ port, keys: roomKeysOn(port) }));
    for (const { port, keys } of byMaster) expect({ port, hasRoomKeys: keys.length > 0 }).toEqual({ port, hasRoomKeys: true });

    for (const room of rooms) {
      const prefix = `{r:${room.id}}:`;
      const holders = byMaster.filter(({ keys }) => keys.some((k) => k.startsWith(prefix)));
      expect(holders).toHaveLength(1);
      const keys = holders[0].keys.filter((k) => k.startsWith(prefix));
      // Sequence, messages, and presence (both sockets are open).
      for (const suffix of ['seq', 'msgs', 'pu', 'pi']) expect(keys).toContain(`${prefix}${suffix}`);
      const slots = new Set(keys.map(keySlot));
      expect(slots.size).toBe(1);
      expect(keySlot(`${prefix}ev`)).toBe([...slots][0]);
      expect(masterOf([...slots][0])).toBe(holders[0].port);
    }
  });

  it('fans out with sharded pub/sub: each room\'s channel is a shard channel on the room\'s own master', async () => {
    const channelsOn = (port: number, ...cmd: string[]) => redisCli(port, ...cmd).split('\n').filter((c) => c !== '');
    for (const port of cluster.ports) {
      expect(channelsOn(port, 'PUBSUB', 'CHANNELS', '{r:*').filter((c) => c.startsWith('{r:'))).toEqual([]);
    }
    for (const room of rooms) {
      const channel = `{r:${room.id}}:ev`;
      const owner = masterOf(keySlot(channel));
      expect(channelsOn(owner, 'PUBSUB', 'SHARDCHANNELS', channel)).toEqual([channel]);
      // Both instances subscribe: one shard subscriber each.
      expect(redisCli(owner, 'PUBSUB', 'SHARDNUMSUB', channel).split('\n')).toEqual([channel, '2']);
    }
  });

  it('recovers with ?since= on the other instance in every room: exactly the missed messages, recovered', async () => {
    for (const [i, room] of rooms.entries()) {
      const first = await join(a, room.id, carol.id);
      expect(first.frames[0]).toEqual({ type: 'history', messages: await chatRest(b.baseUrl).messages(room.id) });
      const lastSeen = first.frames[0].messages.at(-1).id as string;
      await first.close();
      const missed = [
        await chatRest(b.baseUrl).post(room.id, { content: `missed 1 in ${i}`, user_id: bob.id }),
        await chatRest(a.baseUrl).post(room.id, { content: `missed 2 in ${i}`, user_id: alice.id }),
      ];

      const back = await connectWs(roomWsUrl(b.wsUrl, room.id, carol.id, lastSeen));

      expect(await back.next()).toEqual({ type: 'history', messages: missed, recovered: true });
      await back.close();
    }
    // Carol's comings and goings on either instance reached both others in every room.
    const carolEvents = (s: TestSocket) => s.frames.filter((f) => f.type === 'system' && f.user_id === carol.id);
    for (const [i] of rooms.entries()) {
      for (const socket of [onA[i], onB[i]]) {
        await eventually(`carol's last leave in room ${i}`, 3000, () => carolEvents(socket).length === 4);
        expect(carolEvents(socket).map((f) => f.event)).toEqual(['join', 'leave', 'join', 'leave']);
      }
    }
  });

  it('answers a repeated client_msg_id with the original message in every room, over REST and a socket, storing it once', async () => {
    for (const [i, room] of rooms.entries()) {
      const body = { content: `idem ${i}`, user_id: alice.id, client_msg_id: `k-${i}` };
      const original = await chatRest(a.baseUrl).post(room.id, body);
      expect(original.client_msg_id).toBe(`k-${i}`);
      expect(await chatRest(b.baseUrl).post(room.id, body)).toEqual(original);

      await onB[i].received((f) => f.id === original.id, 3000, 'the broadcast of the original');
      await onA[i].send({ type: 'text', content: `idem ${i}`, client_msg_id: `k-${i}` });
      // The repeat is answered to its sender only: a second copy of the original on A.
      await eventually(`the replay in room ${i}`, 3000, () => onA[i].frames.filter((f) => f.id === original.id).length === 2);
      expect(onA[i].frames.filter((f) => f.id === original.id)).toEqual([original, original]);

      const stored = await chatRest(b.baseUrl).messages(room.id);
      expect(stored.filter((m) => m.client_msg_id === `k-${i}`)).toEqual([original]);
    }
    // Nothing was broadcast again.
    await new Promise((r) => setTimeout(r, 200));
    for (const [i] of rooms.entries()) expect(onB[i].frames.filter((f) => f.client_msg_id === `k-${i}`)).toHaveLength(1);
  });
});
