/**
 * What travels through the broker for one room: a compact string envelope, so an
 * instance hands the frame to its sockets without parsing or re-serialising it.
 *
 *   m<seq>\n<frame>       a stored message; seq orders it against the history frame
 *   e<user id>\n<frame>   an event (join, leave, typing) for everyone but that user
 *
 * The Redis send script writes the `m` form itself, in the same atomic step that
 * stores the message, so publish order is storage order on every instance.
 */
export interface RoomEvent {
  /** Message sequence number within the room, or 0 for an event. */
  seq: number;
  /** User whose connections do not receive the frame ('' for nobody). */
  exceptUser: string;
  /** The frame exactly as written to sockets. */
  frame: string;
}

export function messageEnvelope(seq: number, frame: string): string {
  return `m${seq}\n${frame}`;
}

export function eventEnvelope(exceptUser: string, frame: string): string {
  return `e${exceptUser}\n${frame}`;
}

export function parseEnvelope(envelope: string): RoomEvent | undefined {
  const nl = envelope.indexOf('\n');
  if (nl < 1) return undefined;
  const meta = envelope.slice(1, nl);
  const frame = envelope.slice(nl + 1);
  switch (envelope.charCodeAt(0)) {
    case 109: // m
      return { seq: Number(meta), exceptUser: '', frame };
    case 101: // e
      return { seq: 0, exceptUser: meta, frame };
    default:
      return undefined;
  }
}
