// A fetch for an https:// service whose certificate a private CA signed. Node's global fetch trusts
// only the system's CAs (and NODE_EXTRA_CA_CERTS, read once at start-up), so requests to such a
// service go through node:https with the CA given. node:https and the file are loaded only when a CA
// is given, at the first https:// request.

/** The CA's PEM text: given directly, or read once from a file. */
export type CaSource = { ca: string | Uint8Array } | { caFile: string };

/** A fetch that trusts the CA for https:// URLs (and is the global fetch for http://). */
export function fetchTrustingCa(source: CaSource): typeof fetch {
  let ca: Promise<string | Uint8Array> | undefined;
  const loadCa = () =>
    (ca ??= 'ca' in source
      ? Promise.resolve(source.ca)
      : import('node:fs/promises').then((fs) =>
          fs.readFile(source.caFile).catch((error: NodeJS.ErrnoException) => {
            ca = undefined;
            throw new Error(`caFile: cannot read ${source.caFile} (${error.code ?? error.message})`);
          }),
        ));

  return async (input, init = {}) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.protocol !== 'https:') return globalThis.fetch(input, init);
    const [https, trusted] = await Promise.all([import('node:https'), loadCa()]);
    const headers = new Headers(init.headers);
    const body = typeof init.body === 'string' ? init.body : undefined;
    if (body !== undefined) headers.set('content-length', String(Buffer.byteLength(body)));
    return new Promise<Response>((resolve, reject) => {
      const request = https.request(
        url,
        {
          method: init.method ?? 'GET',
          headers: Object.fromEntries(headers),
          ca: typeof trusted === 'string' ? trusted : Buffer.from(trusted),
          signal: init.signal ?? undefined,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', reject);
          response.on('end', () => {
            const status = response.statusCode ?? 502;
            const answerHeaders = new Headers();
            for (const [name, value] of Object.entries(response.headers)) {
              if (value !== undefined) answerHeaders.set(name, Array.isArray(value) ? value.join(', ') : value);
            }
            const bodyless = status === 204 || status === 304 || (status >= 100 && status < 200);
            resolve(new Response(bodyless ? null : Buffer.concat(chunks), { status, headers: answerHeaders }));
          });
        },
      );
      // Wrapped as fetch wraps network failures, so the client reports them the same way.
      request.on('error', (error) => reject(init.signal?.aborted ? init.signal.reason : new TypeError('fetch failed', { cause: error })));
      request.end(body);
    });
  };
}
