import type { User } from './user.js';
import { UsersRepository } from './users.repository.js';

export class MemoryUsersRepository extends UsersRepository {
  private readonly byId = new Map<string, User>();
  private readonly names = new Set<string>();
  private readonly ordered: User[] = [];

  create(user: User): Promise<boolean> {
    const key = user.username.toLowerCase();
    if (this.names.has(key)) return Promise.resolve(false);
    this.names.add(key);
    this.byId.set(user.id, user);
    this.ordered.push(user);
    return Promise.resolve(true);
  }

  findById(id: string): Promise<User | null> {
    return Promise.resolve(this.byId.get(id) ?? null);
  }

  list(offset: number, limit: number): Promise<User[]> {
    return Promise.resolve(this.ordered.slice(offset, offset + limit));
  }
}
