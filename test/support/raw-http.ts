import { connect, type Socket } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * One keep-alive HTTP/1.1 connection spoken by hand, to see exactly what the server does
 * with the socket (fetch hides a closed connection behind a retry or a generic error).
 */
export class RawConnection {
  private buffer = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  private closedByServer = false;
  /** Resolves when the connection closes. */
  readonly closed: Promise<void>;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake?.();
    });
    // A write into a connection the server already reset fails here as well as in `send`.
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.closedByServer = true;
        this.wake?.();
        resolve();
      }),
    );
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  /** Writes a request; resolves once every byte has been handed to the kernel. */
  send(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<void> {
    const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1'];
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    if (body !== undefined) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
    const head = `${lines.join('\r\n')}\r\n\r\n`;
    return new Promise((resolve, reject) => {
      this.socket.write(body === undefined ? head : head + body, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Writes raw bytes (a request head declaring more body than is ever sent). */
  write(bytes: string): void {
    this.socket.write(bytes);
  }

  /** The next complete response (bodies with Content-Length only). */
  async response(): Promise<RawResponse> {
    for (;;) {
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end >= 0) {
        const [statusLine, ...fields] = this.buffer.subarray(0, end).toString('latin1').split('\r\n');
        const headers: Record<string, string> = {};
        for (const field of fields) {
          const colon = field.indexOf(':');
          headers[field.slice(0, colon).trim().toLowerCase()] = field.slice(colon + 1).trim();
        }
        const length = Number(headers['content-length'] ?? 0);
        if (this.buffer.length >= end + 4 + length) {
          const body = this.buffer.subarray(end + 4, end + 4 + length).toString('utf8');
          this.buffer = this.buffer.subarray(end + 4 + length);
          return { status: Number(statusLine.split(' ')[1]), headers, body };
        }
      }
      if (this.closedByServer) throw new Error('the server closed the connection before a complete response');
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}
