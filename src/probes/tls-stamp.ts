import type * as net from 'node:net';
import { Duplex } from 'node:stream';
import { now } from '../core/clock.js';

/**
 * A thin stream between the TCP socket and Node's TLS: it hands bytes both
 * ways unchanged and stamps each chunk from the server the moment it is read
 * from the socket, before OpenSSL sees it. Over a plain net.Socket, tls reads
 * the socket natively and JavaScript never sees the server's flight arrive;
 * through this layer the probe knows when the bytes that completed the
 * handshake came in, so the handshake splits into the server's part
 * (ClientHello sent → those bytes read) and this client's own processing.
 */
export class StampedSocket extends Duplex {
  /** now() when the latest chunk from the server was read; -1 before any. */
  lastReadAt = -1;
  /** Chunks read and stamped, handed to TLS on the next check phase. */
  private held: Buffer[] = [];
  /** What happened after the held chunks: the end of the stream, an error, the close. */
  private after: (() => void)[] = [];
  private scheduled = false;

  constructor(readonly socket: net.Socket) {
    super({ allowHalfOpen: true, decodeStrings: false });
    // Stamp at once, let OpenSSL work on the bytes a moment later (setImmediate): in one poll of
    // the event loop every socket's bytes are stamped before any handshake is computed, so one
    // handshake's CPU does not late-stamp the next one's flight.
    socket.on('data', (d: Buffer) => {
      this.lastReadAt = now();
      this.held.push(d);
      this.schedule();
    });
    socket.on('end', () => this.then(() => this.push(null)));
    socket.on('error', (e) => this.then(() => this.destroy(e)));
    socket.on('close', () => this.then(() => !this.destroyed && this.destroy()));
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flush);
  }

  /** Runs `f` once the chunks read before it are handed over (an alert before a RST stays an alert). */
  private then(f: () => void): void {
    if (!this.scheduled) return f();
    this.after.push(f);
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const held = this.held;
    this.held = [];
    let more = true;
    for (const d of held) if (!this.destroyed) more = this.push(d) && more;
    if (!more && !this.socket.destroyed) this.socket.pause();
    const after = this.after;
    this.after = [];
    for (const f of after) f();
  };

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.socket.write(chunk, cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (e?: Error | null) => void): void {
    this.socket.cork();
    for (let i = 0; i < chunks.length - 1; i++) this.socket.write(chunks[i]!.chunk);
    this.socket.write(chunks[chunks.length - 1]!.chunk, cb);
    this.socket.uncork();
  }

  override _final(cb: (e?: Error | null) => void): void {
    if (this.socket.destroyed || !this.socket.writable) return cb();
    this.socket.end(() => cb());
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    if (!this.socket.destroyed) this.socket.destroy();
    cb(err);
  }
}
