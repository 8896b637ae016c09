/** A tiny typed event hub; a throwing listener is reported, never breaks the emitter's loop (mediasoup safeEmit). */
export type Listener<A extends unknown[]> = (...args: A) => void;

export class Emitter<E extends { [K in keyof E]: unknown[] }> {
  private readonly listeners: { [K in keyof E]?: Array<Listener<E[K]>> } = {};
  onListenerError: (err: unknown, event: string) => void = (err, event) => {
    process.stderr.write(`[error] listener for "${event}" threw: ${(err as Error)?.stack ?? String(err)}\n`);
  };

  on<K extends keyof E>(event: K, fn: Listener<E[K]>): () => void {
    const list = (this.listeners[event] ??= []);
    list.push(fn);
    return () => {
      const i = list.indexOf(fn);
      if (i >= 0) list.splice(i, 1);
    };
  }

  emit<K extends keyof E>(event: K, ...args: E[K]): void {
    const list = this.listeners[event];
    if (list === undefined) return;
    for (const fn of list) {
      try {
        fn(...args);
      } catch (e) {
        this.onListenerError(e, String(event));
      }
    }
  }

  hasListeners<K extends keyof E>(event: K): boolean {
    return (this.listeners[event]?.length ?? 0) > 0;
  }
}
