import type { User } from './user.js';

/** Storage port for users; bound to a driver in `UsersModule`. */
export abstract class UsersRepository {
  /** Stores the user unless the username is taken, case-insensitively; false when taken. Atomic. */
  abstract create(user: User): Promise<boolean>;
  abstract findById(id: string): Promise<User | null>;
  /** Users oldest first. */
  abstract list(offset: number, limit: number): Promise<User[]>;
}
