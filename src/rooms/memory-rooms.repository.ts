import type { Room } from './room.js';
import { RoomsRepository } from './rooms.repository.js';

export class MemoryRoomsRepository extends RoomsRepository {
  private readonly byId = new Map<string, Room>();
  private readonly ordered: Room[] = [];

  create(room: Room): Promise<void> {
    this.byId.set(room.id, room);
    this.ordered.push(room);
    return Promise.resolve();
  }

  findById(id: string): Promise<Room | null> {
    return Promise.resolve(this.byId.get(id) ?? null);
  }

  list(offset: number, limit: number): Promise<Room[]> {
    return Promise.resolve(this.ordered.slice(offset, offset + limit));
  }
}
