/**
 * A bounded set of ids known to exist. Rooms and users are never deleted, so a
 * positive answer from storage stays true forever and later checks on the hot
 * path cost no round trip. When full it starts over (a cache, not a record).
 */
export class KnownIds {
  private readonly ids = new Set<string>();

  constructor(private readonly capacity = 100_000) {}

  has(id: string): boolean {
    return this.ids.has(id);
  }

  add(id: string): void {
    if (this.ids.size >= this.capacity) this.ids.clear();
    this.ids.add(id);
  }
}
