export type FrameVerdict = 'ok' | 'reject' | 'close';

/**
 * Per-connection frame budget: WS_RATE_LIMIT frames per WS_RATE_TTL-second window.
 * Extra frames are refused; a connection that reaches three times the limit in
 * one window is to be closed (1008).
 */
export class FrameRateLimiter {
  private windowStart = 0;
  private count = 0;

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  hit(now: number): FrameVerdict {
    if (now - this.windowStart >= this.windowMs) {
      this.windowStart = now;
      this.count = 0;
    }
    this.count++;
    if (this.count <= this.limit) return 'ok';
    return this.count >= 3 * this.limit ? 'close' : 'reject';
  }
}
