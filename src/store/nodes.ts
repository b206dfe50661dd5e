/**
 * Interns writer node ids so each entry stores a 2-byte index instead of a string pointer.
 * Reference counted: an id's index is recycled when no entry uses it any more, so the table
 * holds at most the distinct node ids of live entries (at most 65536 at a time).
 */
export class NodeTable {
  private readonly names: string[] = [];
  private readonly index = new Map<string, number>();
  private refs = new Uint32Array(16);
  private readonly free: number[] = [];

  name(i: number): string {
    return this.names[i];
  }

  /** Number of distinct node ids in use. */
  get count(): number {
    return this.index.size;
  }

  acquire(node: string): number {
    let i = this.index.get(node);
    if (i === undefined) {
      if (this.free.length > 0) {
        i = this.free.pop() as number;
        this.names[i] = node;
      } else {
        i = this.names.length;
        if (i > 0xffff) throw new RangeError('store: more than 65536 distinct writer node ids in use');
        this.names.push(node);
        if (i >= this.refs.length) {
          const r = new Uint32Array(Math.min(this.refs.length * 2, 0x10000));
          r.set(this.refs);
          this.refs = r;
        }
      }
      this.index.set(node, i);
    }
    this.refs[i]++;
    return i;
  }

  release(i: number): void {
    if (--this.refs[i] === 0) {
      this.index.delete(this.names[i]);
      this.names[i] = '';
      this.free.push(i);
    }
  }
}
