// node:http with a keep-alive Agent rather than global fetch: it costs less per request on the
// client side (which every HTTP figure includes), and an Agent per simulated client gives each
// client its own persistent connection, like separate processes would have.
import http from 'node:http';

export interface HttpAnswer {
  status: number;
  /** Parsed JSON when the answer is JSON, else the text. */
  body: unknown;
}

/** A JSON-over-HTTP client with persistent connections to one origin. */
export class KeepAliveHttp {
  /** The API key every client sends (the benchmark's service checks keys, as a deployment would). */
  static apiKey: string | undefined;

  private readonly agent: http.Agent;
  private readonly host: string;
  private readonly port: number;

  /** maxSockets 1 gives one connection used for every request, as one single-threaded caller has. */
  constructor(baseUrl: string, maxSockets = Infinity) {
    const url = new URL(baseUrl);
    this.host = url.hostname;
    this.port = Number(url.port);
    this.agent = new http.Agent({ keepAlive: true, maxSockets });
  }

  /** Sends one request and resolves once the whole answer has arrived; an abort rejects it. */
  async request(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<HttpAnswer> {
    const { status, text, json } = await this.requestText(method, path, body, signal);
    return { status, body: json && text !== '' ? JSON.parse(text) : text };
  }

  /**
   * The same, with the answer's body as text: for numbers JSON.parse would round (Throttle's peer
   * IDs are 64-bit). `json` says whether the answer said it was JSON.
   */
  requestText(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<{ status: number; text: string; json: boolean }> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const request = http.request(
        {
          host: this.host,
          port: this.port,
          method,
          path,
          agent: this.agent,
          signal,
          headers: {
            ...(KeepAliveHttp.apiKey && { authorization: `Bearer ${KeepAliveHttp.apiKey}` }),
            ...(payload !== undefined && { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', reject);
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            resolve({ status: response.statusCode ?? 0, text, json: (response.headers['content-type'] ?? '').includes('json') });
          });
        },
      );
      request.on('error', reject);
      request.end(payload);
    });
  }

  /** Closes the persistent connections. */
  close(): void {
    this.agent.destroy();
  }
}

/** A non-2xx answer where the benchmark expected success. */
export class UnexpectedAnswer extends Error {
  constructor(
    readonly what: string,
    readonly answer: HttpAnswer,
  ) {
    super(`${what}: HTTP ${answer.status} ${typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body)}`);
  }
}
