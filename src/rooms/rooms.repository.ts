import type { Room } from './room.js';

/** Storage port for rooms; bound to a driver in `RoomsModule`. */
export abstract class RoomsRepository {
  abstract create(room: Room): Promise<void>;
  abstract findById(id: string): Promise<Room | null>;
  /** Rooms oldest first. */
  abstract list(offset: number, limit: number): Promise<Room[]>;
}
