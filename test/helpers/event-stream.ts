import type { TestContext } from 'node:test';

export interface StreamEvent {
  type: string;
  data: any;
}

export interface EventStream {
  events: StreamEvent[];
  /** Comment lines (`: …`) received so far. */
  comments: string[];
  /** The first event (received or to come) matching the predicate; fails after timeoutMs naming `what`. */
  next(what: string, predicate: (event: StreamEvent) => boolean, timeoutMs?: number): Promise<StreamEvent>;
  /** Resolves once a comment line has arrived. */
  nextComment(timeoutMs?: number): Promise<string>;
  status: number;
  contentType: string | null;
  /** Resolves when the server has ended the stream (not when close() aborted it). */
  ended: Promise<void>;
  close(): void;
}

/** Reads a Server-Sent Events stream over real HTTP, closed after the test. */
export async function openEventStream(t: TestContext, url: string, headers: Record<string, string> = {}): Promise<EventStream> {
  const controller = new AbortController();
  t.after(() => controller.abort());
  const response = await fetch(url, { signal: controller.signal, headers: { accept: 'text/event-stream', ...headers } });
  const events: StreamEvent[] = [];
  const comments: string[] = [];
  let wake: (() => void) | undefined;
  const changed = () => new Promise<void>((resolve) => (wake = resolve));
  let serverEnded: () => void = () => undefined;
  const ended = new Promise<void>((resolve) => (serverEnded = resolve));
  void (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let type = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line);
            else if (line.startsWith('event: ')) type = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length > 0) events.push({ type, data: JSON.parse(data.join('\n')) });
        }
        wake?.();
      }
      serverEnded();
    } catch {
      // aborted after the test
    }
  })();
  const waitFor = async <T>(what: string, find: () => T | undefined, timeoutMs: number): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = find();
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; events so far: ${JSON.stringify(events.map((event) => event.type))}`);
      await Promise.race([changed(), new Promise((resolve) => setTimeout(resolve, Math.min(left, 200)))]);
    }
  };
  return {
    events,
    comments,
    status: response.status,
    contentType: response.headers.get('content-type'),
    ended,
    next: (what, predicate, timeoutMs = 10_000) => waitFor(what, () => events.find(predicate), timeoutMs),
    nextComment: (timeoutMs = 10_000) => waitFor('a comment line', () => comments[0], timeoutMs),
    close: () => controller.abort(),
  };
}
