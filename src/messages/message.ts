export const MESSAGE_TYPES = ['text', 'image', 'file'] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];

/** The stored Message, keys in contract order. `client_msg_id` only when the sender gave one. */
export interface Message {
  id: string;
  room_id: string;
  user_id: string;
  content: string;
  type: MessageType;
  created_at: string;
  client_msg_id?: string;
}

export interface NewMessage {
  roomId: string;
  userId: string;
  content: string;
  type: MessageType;
  clientMsgId?: string;
}

/**
 * Message ids are `<room id>.<10-digit sequence>`: unique across rooms, opaque to
 * clients, and increasing (also as strings) in a room's order. The sequence lets a
 * cursor find its place in O(1).
 */
export function messageId(roomId: string, seq: number): string {
  return `${roomId}.${String(seq).padStart(10, '0')}`;
}

/** The sequence of a message id of this room, or undefined if it is not one. */
export function seqOfMessageId(roomId: string, id: string): number | undefined {
  if (id.length !== roomId.length + 11 || !id.startsWith(roomId) || id.charCodeAt(roomId.length) !== 46) {
    return undefined;
  }
  const digits = id.slice(roomId.length + 1);
  return /^[0-9]{10}$/.test(digits) ? Number(digits) : undefined;
}

/**
 * The JSON of a message without its `{"id":…,` head and `"created_at":…}` tail:
 * both are assigned where the message is stored (the Redis script or the memory
 * store), so the rest is serialised once, here.
 */
export function messageBody(m: NewMessage): { body: string; tail: string } {
  return {
    body:
      `"room_id":${JSON.stringify(m.roomId)},"user_id":${JSON.stringify(m.userId)},` +
      `"content":${JSON.stringify(m.content)},"type":${JSON.stringify(m.type)}`,
    tail: m.clientMsgId === undefined ? '' : `,"client_msg_id":${JSON.stringify(m.clientMsgId)}`,
  };
}

export function assembleMessage(id: string, body: string, createdAt: string, tail: string): string {
  return `{"id":${JSON.stringify(id)},${body},"created_at":"${createdAt}"${tail}}`;
}
