/**
 * The only place Redis keys and channels are built.
 *
 * Every key of one room carries the hash tag `{r:<roomId>}`, so on a Redis Cluster
 * they share a slot and one Lua script can store a message, trim the room and
 * publish the frame atomically. Rooms and users indexes each live in one slot.
 */
export const redisKeys = {
  roomsIndex: '{rooms}:ids',
  roomsData: '{rooms}:data',
  usersIndex: '{users}:ids',
  usersData: '{users}:data',
  usernames: '{users}:names',

  roomSeq: (roomId: string) => `{r:${roomId}}:seq`,
  roomMessages: (roomId: string) => `{r:${roomId}}:msgs`,
  idempotency: (roomId: string, userId: string, clientMsgId: string) =>
    `{r:${roomId}}:idem:${userId.length}:${userId}:${clientMsgId}`,
  /** Pub/sub channel carrying every live event of one room. */
  roomChannel: (roomId: string) => `{r:${roomId}}:ev`,
  /** user id -> open connections of that user in the room, all instances. */
  presenceUsers: (roomId: string) => `{r:${roomId}}:pu`,
  /** `<instance>|<user id>` -> open connections on that instance. */
  presenceByInstance: (roomId: string) => `{r:${roomId}}:pi`,

  rateLimit: (key: string) => `rl:${key}`,
  instances: '{inst}:alive',
  instanceRooms: (instanceId: string) => `{inst}:rooms:${instanceId}`,
} as const;

/** Room id from a room channel name, or undefined if it is not one. */
export function roomIdOfChannel(channel: string): string | undefined {
  if (!channel.startsWith('{r:') || !channel.endsWith('}:ev')) return undefined;
  return channel.slice(3, -4);
}
