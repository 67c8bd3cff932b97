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
  /**
   * The read stamp of the chunk TLS is handed now (or was handed last); -1 before any. At
   * 'secureConnect' it is the stamp of the bytes that completed the handshake, even when bytes the
   * server sent after its Finished (TLS 1.3 lets it: an HTTP/2 SETTINGS, session tickets) were read
   * since.
   */
  handedAt = -1;
  /** now() when the first chunk was written to the socket (the ClientHello); -1 before any. */
  firstWriteAt = -1;
  /** now() when the first chunk was written to the socket after `markWrite()`; -1 before one. */
  writtenAt = -1;
  private armed = false;
  /** Chunks read and stamped, handed to TLS on the next check phase. */
  private held: Buffer[] = [];
  private heldAt: number[] = [];
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
      this.heldAt.push(this.lastReadAt);
      this.schedule();
    });
    socket.on('end', () => this.then(() => this.push(null)));
    socket.on('error', (e) => this.then(() => this.destroy(e)));
    socket.on('close', () => this.then(() => !this.destroyed && this.destroy()));
  }

  /** The next write to the socket is stamped in `writtenAt`: when a request's bytes left, not when it was queued. */
  markWrite(): void {
    this.armed = true;
    this.writtenAt = -1;
  }

  private wrote(): void {
    if (this.firstWriteAt < 0) this.firstWriteAt = now();
    if (!this.armed) return;
    this.armed = false;
    this.writtenAt = now();
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
    const heldAt = this.heldAt;
    this.held = [];
    this.heldAt = [];
    let more = true;
    for (let i = 0; i < held.length; i++) {
      if (this.destroyed) break;
      this.handedAt = heldAt[i]!;
      more = this.push(held[i]) && more;
    }
    if (!more && !this.socket.destroyed) this.socket.pause();
    const after = this.after;
    this.after = [];
    for (const f of after) f();
  };

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    // Stamped before the call: on loopback the write hands the bytes to the receiver inside it, and the
    // call can return well after the capture saw them leave.
    this.wrote();
    this.socket.write(chunk, cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (e?: Error | null) => void): void {
    this.wrote();
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
