/**
 * The open server streams of one streaming method (Invalidations, Watch), each with what its
 * owner keeps for it. Edge: grpc-js calls.
 *  - open() refuses a call with UNAVAILABLE once close() was called, and forgets a stream when
 *    its call is cancelled, closes or fails (onDrop is told);
 *  - activeChanged is called when the first stream opens and when the last one goes;
 *  - write() ends a stream (RESOURCE_EXHAUSTED) whose client reads too slowly: more than
 *    `maxBuffered` messages not yet sent;
 *  - close() ends every stream (graceful stop: they never end by themselves).
 */
import * as grpc from '@grpc/grpc-js';

export class ServerStreams<Call extends grpc.ServerWritableStream<unknown, Msg>, Msg, State> {
  private readonly byCall = new Map<Call, State>();
  private closed = false;

  constructor(
    private readonly maxBuffered: number,
    private readonly tooSlow: string,
    private readonly activeChanged: () => void,
    private readonly onDrop: (state: State) => void = () => {},
  ) {}

  get active(): boolean {
    return this.byCall.size !== 0;
  }

  entries(): IterableIterator<[Call, State]> {
    return this.byCall.entries();
  }

  /** Takes a new call with its state; false (and the call refused) once closed. */
  open(call: Call, state: State): boolean {
    if (this.closed) {
      call.destroy(Object.assign(new Error('node is shutting down'), { code: grpc.status.UNAVAILABLE }));
      return false;
    }
    this.byCall.set(call, state);
    if (this.byCall.size === 1) this.activeChanged();
    const done = () => this.drop(call);
    call.on('cancelled', done);
    call.on('close', done);
    call.on('error', done);
    return true;
  }

  /** Sends msg; a stream too far behind is ended instead of buffering without bound. */
  write(call: Call, msg: Msg): void {
    call.write(msg);
    if (call.writableLength > this.maxBuffered) {
      this.drop(call);
      call.destroy(Object.assign(new Error(this.tooSlow), { code: grpc.status.RESOURCE_EXHAUSTED }));
    }
  }

  close(): void {
    this.closed = true;
    for (const call of [...this.byCall.keys()]) {
      this.drop(call);
      call.end();
    }
  }

  private drop(call: Call): void {
    const state = this.byCall.get(call);
    if (state === undefined || !this.byCall.delete(call)) return;
    this.onDrop(state);
    if (this.byCall.size === 0) this.activeChanged();
  }
}
