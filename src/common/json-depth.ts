/** Deepest nesting of objects and arrays a request body or socket frame may have; the API's own are flat. */
export const MAX_JSON_DEPTH = 32;

/** The 400 detail and error frame for a body or frame nested deeper than `MAX_JSON_DEPTH`. */
export const TOO_DEEP = `JSON nested more than ${MAX_JSON_DEPTH} levels deep`;

/**
 * Whether `value` nests objects or arrays more than `max` levels deep (the value itself
 * is level 1). Walked without recursion, so any depth is answered, never a stack overflow;
 * a flat object (every frame and body the API defines) is answered without allocating.
 */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  let flat = true;
  for (const key in value) {
    const child = (value as Record<string, unknown>)[key];
    if (typeof child === 'object' && child !== null) {
      flat = false;
      break;
    }
  }
  if (flat) return max < 1;
  const stack: [object, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (depth > max) return true;
    for (const child of Object.values(node)) {
      if (typeof child === 'object' && child !== null) stack.push([child as object, depth + 1]);
    }
  }
  return false;
}
