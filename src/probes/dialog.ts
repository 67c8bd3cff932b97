import type * as net from 'node:net';

/** How a plaintext dialog ended before it got what it waited for. */
export class DialogEnd extends Error {
  constructor(
    readonly how: 'timeout' | 'closed' | 'reset' | 'too-long',
    message: string,
    /** What the peer had sent, as text (control characters escaped), for the cause. */
    readonly received: string,
  ) {
    super(message);
  }
}

/** Bytes as one printable line: CR LF shown as "\r\n"-free separators, other control bytes escaped. */
export function printable(b: Buffer | string, max = 200): string {
  const text = typeof b === 'string' ? b : b.toString('latin1');
  const out = text
    .replace(/\r?\n$/, '')
    .replace(/\r?\n/g, ' | ')
    .replace(/[\x00-\x1f\x7f-\xff]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return out.length > max ? `${out.slice(0, max)}…` : out;
}

/**
 * Reads a plaintext dialog from a connected socket: each `read` waits until
 * `complete` finds a whole message at the front of what has arrived (it
 * returns the message's length, or -1 for "not yet"), and hands it over.
 * Everything is bounded: by the deadline, and by `maxBytes` of unanswered
 * input. `detach` hands the socket back untouched (no listener left), for the
 * TLS handshake to take over.
 */
export class Dialog {
  private buf: Buffer = Buffer.alloc(0);
  private ended: DialogEnd | null = null;
  private wake: (() => void) | null = null;
  private readonly timer: NodeJS.Timeout;
  private readonly onData = (chunk: Buffer) => {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    this.kick();
  };
  private readonly onEnd = () => this.stop(new DialogEnd('closed', 'the server closed the connection (FIN)', printable(this.buf)));
  private readonly onError = (e: NodeJS.ErrnoException) =>
    this.stop(
      new DialogEnd(
        e.code === 'ECONNRESET' ? 'reset' : 'closed',
        e.code === 'ECONNRESET' ? 'the server reset the connection (RST)' : `${e.code ?? 'error'}: ${e.message}`,
        printable(this.buf),
      ),
    );
  private readonly onAbort = () => this.stop(new DialogEnd('timeout', 'aborted', printable(this.buf)));

  constructor(
    readonly socket: net.Socket,
    deadline: number,
    nowMs: () => number,
    private readonly signal: AbortSignal,
    private readonly maxBytes = 16_384,
  ) {
    const wait = Math.max(0, deadline - nowMs());
    this.timer = setTimeout(
      () => this.stop(new DialogEnd('timeout', `no complete answer within ${Math.round(wait)} ms`, printable(this.buf))),
      wait,
    );
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    signal.addEventListener('abort', this.onAbort, { once: true });
  }

  private kick(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private stop(e: DialogEnd): void {
    this.ended ??= e;
    this.kick();
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  async read(complete: (b: Buffer) => number): Promise<Buffer> {
    for (;;) {
      const n = this.buf.length ? complete(this.buf) : -1;
      if (n >= 0) {
        const msg = this.buf.subarray(0, n);
        this.buf = this.buf.subarray(n);
        return msg;
      }
      if (this.ended) throw this.ended;
      if (this.buf.length > this.maxBytes)
        throw new DialogEnd('too-long', `more than ${this.maxBytes} bytes without a complete answer`, printable(this.buf));
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** Bytes that arrived after the last message read (none, in a well-behaved dialog). */
  get leftover(): number {
    return this.buf.length;
  }

  detach(): void {
    clearTimeout(this.timer);
    this.signal.removeEventListener('abort', this.onAbort);
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('error', this.onError);
  }
}

/** A CRLF- (or LF-) terminated line at the front: its length with the terminator, or -1. */
export function lineEnd(b: Buffer, from = 0): number {
  const i = b.indexOf(10, from);
  return i < 0 ? -1 : i + 1;
}
