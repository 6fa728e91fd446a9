import { Injectable } from '@nestjs/common';
import { DomainError, ErrorCode } from '../common/errors/domain-error.js';
import { KnownIds } from '../common/known-ids.js';
import { newId, timestamp } from '../common/text.js';
import type { User } from './user.js';
import { UsersRepository } from './users.repository.js';

export const USERNAME_PATTERN = /^[A-Za-z0-9_.-]{3,32}$/;
export const USERNAME_RULE = 'username must be 3-32 characters of A-Z, a-z, 0-9, _, . and -';

@Injectable()
export class UsersService {
  private readonly known = new KnownIds();

  constructor(private readonly users: UsersRepository) {}

  async create(username: unknown): Promise<User> {
    if (typeof username !== 'string') throw DomainError.validation('username must be a string');
    if (!USERNAME_PATTERN.test(username)) throw DomainError.validation(USERNAME_RULE);
    const user: User = { id: newId(), username, created_at: timestamp() };
    if (!(await this.users.create(user))) {
      throw new DomainError(ErrorCode.UsernameTaken, 'Username already taken');
    }
    this.known.add(user.id);
    return user;
  }

  async get(id: string): Promise<User> {
    const user = await this.users.findById(id);
    if (!user) throw DomainError.userNotFound();
    this.known.add(id);
    return user;
  }

  /** Whether the user is known to exist without asking storage (the hot paths skip `assertExists` then). */
  isKnown(id: string): boolean {
    return this.known.has(id);
  }

  /** Throws `UserNotFound` unless the user exists; answered from memory once seen. */
  async assertExists(id: string): Promise<void> {
    if (this.known.has(id)) return;
    await this.get(id);
  }

  list(offset: number, limit: number): Promise<User[]> {
    return this.users.list(offset, limit);
  }
}
