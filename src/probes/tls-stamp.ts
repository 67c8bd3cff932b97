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

  constructor(readonly socket: net.Socket) {
    super({ allowHalfOpen: true, decodeStrings: false });
    socket.on('data', (d: Buffer) => {
      this.lastReadAt = now();
      if (!this.push(d)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (e) => this.destroy(e));
    socket.on('close', () => {
      if (!this.destroyed) this.destroy();
    });
  }

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
