/**
 * How room events cross instances. Redis pub/sub (or sharded pub/sub on a
 * cluster) in production; an in-process bus for the embedded memory store.
 * Payloads are envelopes from `room-event.ts`.
 */
export type EnvelopeHandler = (roomId: string, envelope: string) => void;

export abstract class RoomBroker {
  /** Starts delivering the room's envelopes to the handler; resolves once subscribed. */
  abstract subscribe(roomId: string): Promise<void>;
  /** Stops delivering the room's envelopes. */
  abstract unsubscribe(roomId: string): Promise<void>;
  /** Publishes an envelope to every instance subscribed to the room. */
  abstract publish(roomId: string, envelope: string): Promise<void>;
  /** The single sink for envelopes arriving on this instance (set by the hub). */
  abstract onEnvelope(handler: EnvelopeHandler): void;
  /** Called after the transport reconnected: envelopes may have been missed meanwhile. */
  abstract onResync(handler: () => void): void;
}

/** The in-process bus: delivery is synchronous, so publish order is storage order. */
export class MemoryRoomBroker extends RoomBroker {
  private readonly rooms = new Set<string>();
  private handler: EnvelopeHandler = () => undefined;

  subscribe(roomId: string): Promise<void> {
    this.rooms.add(roomId);
    return Promise.resolve();
  }

  unsubscribe(roomId: string): Promise<void> {
    this.rooms.delete(roomId);
    return Promise.resolve();
  }

  publish(roomId: string, envelope: string): Promise<void> {
    this.publishNow(roomId, envelope);
    return Promise.resolve();
  }

  /** Synchronous publish for the memory store, called in the same tick as the write. */
  publishNow(roomId: string, envelope: string): void {
    if (this.rooms.has(roomId)) this.handler(roomId, envelope);
  }

  onEnvelope(handler: EnvelopeHandler): void {
    this.handler = handler;
  }

  onResync(): void {
    // In-process delivery never drops anything.
  }
}
