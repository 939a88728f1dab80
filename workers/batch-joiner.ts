/**
 * Joins the batches that arrive together into fewer pieces of work. kafkajs hands a
 * consumer one batch per partition, several at once (partitionsConsumedConcurrently);
 * under a steady load each is small. Batches handed in during the same turn of the event
 * loop are done together, up to `joinUpTo` items a piece (one Postgres transaction instead
 * of one per partition); batches that are large by themselves (a backlog) stay apart and
 * run in parallel. Every caller gets the outcome of the piece that holds its items: its
 * result, or its error, so that no caller commits offsets unless its items are done.
 */
export class BatchJoiner<Item, Result> {
  private pending: Pending<Item, Result>[] = [];

  constructor(private readonly work: (items: Item[]) => Promise<Result>, private readonly joinUpTo: number) {}

  /** Resolves once the work covering `items` is done. */
  run(items: Item[]): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      if (this.pending.length === 0) setImmediate(() => this.flush());
      this.pending.push({ items, resolve, reject });
    });
  }

  private flush(): void {
    const pieces: Pending<Item, Result>[][] = [];
    let size = Infinity;
    for (const batch of this.pending) {
      if (size + batch.items.length > this.joinUpTo) {
        pieces.push([]);
        size = 0;
      }
      pieces[pieces.length - 1]!.push(batch);
      size += batch.items.length;
    }
    this.pending = [];
    for (const piece of pieces) {
      this.work(piece.flatMap((p) => p.items)).then(
        (result) => { for (const p of piece) p.resolve(result); },
        (error: unknown) => { for (const p of piece) p.reject(error); },
      );
    }
  }
}

interface Pending<Item, Result> { items: Item[]; resolve: (result: Result) => void; reject: (error: unknown) => void }
