import { Injectable } from '@nestjs/common';
import { DomainError } from '../common/errors/domain-error.js';
import { KnownIds } from '../common/known-ids.js';
import { codePointLength, newId, timestamp } from '../common/text.js';
import type { Room } from './room.js';
import { RoomsRepository } from './rooms.repository.js';

export const ROOM_NAME_MAX = 100;

@Injectable()
export class RoomsService {
  private readonly known = new KnownIds();

  constructor(private readonly rooms: RoomsRepository) {}

  async create(name: unknown): Promise<Room> {
    if (typeof name !== 'string') throw DomainError.validation('name must be a string');
    const trimmed = name.trim();
    const length = codePointLength(trimmed);
    if (length < 1 || length > ROOM_NAME_MAX) {
      throw DomainError.validation(`name must be 1-${ROOM_NAME_MAX} characters after trimming`);
    }
    const room: Room = { id: newId(), name: trimmed, created_at: timestamp() };
    await this.rooms.create(room);
    this.known.add(room.id);
    return room;
  }

  async get(id: string): Promise<Room> {
    const room = await this.rooms.findById(id);
    if (!room) throw DomainError.roomNotFound();
    this.known.add(id);
    return room;
  }

  /** Whether the room is known to exist without asking storage (the hot paths skip `assertExists` then). */
  isKnown(id: string): boolean {
    return this.known.has(id);
  }

  /** Throws `RoomNotFound` unless the room exists; answered from memory once seen. */
  async assertExists(id: string): Promise<void> {
    if (this.known.has(id)) return;
    await this.get(id);
  }

  list(offset: number, limit: number): Promise<Room[]> {
    return this.rooms.list(offset, limit);
  }
}
