import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Config } from '../../config.js';
import type { Actor } from '../../permits/actor.js';
import type { PermitEvent, PermitService } from '../../permits/permit-service.js';
import { shownTo } from '../../permits/resource-view.js';
import { ErrorSchema } from '../schemas.js';
import { accessErrors } from './error-responses.js';

export interface EventRoutesOptions {
  permits: PermitService;
  events: Config['events'];
  /** The caller as the permits layer sees it (its key's prefixes, whether it is an admin). */
  actorOf(request: FastifyRequest): Actor;
}

/**
 * An event as this caller may see it, or undefined when it concerns a resource outside its key's
 * prefixes. A held permit's token (the key to release it) goes only to its holder and to admins, as in
 * the resource view; a permit that has ended carries its runId, which no longer unlocks anything.
 */
export function eventShownTo(actor: Actor, { type, ...data }: PermitEvent): { type: string; data: unknown } | undefined {
  switch (type) {
    case 'granted':
    case 'renewed':
      if (!('permit' in data) || !actor.mayUse(data.permit.resource)) return undefined;
      return { type, data: { at: data.at, permit: shownTo(actor, data.permit) } };
    case 'released':
    case 'expired':
      return 'resource' in data && actor.mayUse(data.resource) ? { type, data } : undefined;
    case 'refresh':
      return 'changed' in data ? { type, data: { ...data, changed: data.changed.filter((resource) => actor.mayUse(resource)) } } : undefined;
  }
}

/** A stream whose client reads slower than this much piles up is ended; the client reconnects and reloads. */
const MAX_BUFFERED_BYTES = 1024 * 1024;
/** How soon a browser's EventSource reconnects after the stream ends. */
const RECONNECT_MS = 2_000;

const EVENTS_DESCRIPTION = `Server-Sent Events (text/event-stream). Each event is \`event: <type>\` with a JSON \`data\` line:

- \`hello\` (first): \`refreshMs\`, \`keepAliveMs\`, \`temporalUiWorkflowsUrl\` (the prefix of run links in the Temporal Web UI, or null).
- \`granted\`, \`renewed\`: \`{at, permit}\`, for permits granted or renewed through this replica.
- \`released\`, \`expired\`: \`{at, runId, resource, slot, holder}\`. Releases through this replica at once; expiries of permits granted or renewed here are seen at their lease end (one describe each), and runs this replica ended as expired (no worker had closed them) at once.
- \`refresh\`: \`{at, changed, complete}\` every refreshMs (EVENTS_REFRESH_MS): the resources whose holders changed since the last refresh, read from Temporal visibility, wherever the change happened. So another replica's grant, release, renewal or expiry shows within refreshMs plus visibility's lag.

With API keys, the stream needs a key allowed to read, like every API route, and carries only the resources within its prefixes; a held permit's \`runId\` and \`fencingToken\` go only to the key that holds it and to admins (a browser's EventSource cannot send a key: read the stream with fetch, as the dashboard does).

A comment line (\`: keep-alive\`) every keepAliveMs (EVENTS_KEEPALIVE_MS) keeps proxies from closing an idle stream. Events are not replayed after a reconnect: reload the state from the JSON API then.`;

/** One event of the stream as an SSE parser reads it: its type, its JSON data as text, its id. */
const ServerSentEventSchema = z
  .object({
    event: z.string().optional().describe('hello, granted, renewed, released, expired or refresh'),
    data: z.string().optional().describe('The event\'s JSON, as text'),
    id: z.string().optional().describe('Increases by one per event on this stream'),
  })
  .loose()
  .describe('A Server-Sent Event (the stream also sends retry once, first, and keep-alive comments)');

/** GET /events: this replica's permit events and a periodic refresh from Temporal, as Server-Sent Events. */
export const eventRoutes: FastifyPluginAsyncZod<EventRoutesOptions> = async (app, { permits, events, actorOf }) => {
  const open = new Set<() => void>();
  // Streams never end by themselves: without this the HTTP server's close would wait for each client.
  app.addHook('preClose', async () => {
    for (const end of [...open]) end();
  });

  app.get('/events', {
    config: { access: 'read' },
    schema: {
      tags: ['resources'],
      summary: 'Live permit events of this replica, and a periodic refresh from Temporal',
      description: EVENTS_DESCRIPTION,
      response: {
        // Only the stream is text/event-stream; refusals are JSON like every other route's.
        200: { description: 'The event stream', content: { 'text/event-stream': { schema: ServerSentEventSchema } } },
        ...accessErrors(),
        503: ErrorSchema,
      },
    },
    handler: (request, reply) => {
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        ...(reply.getHeaders() as OutgoingHttpHeaders),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        // nginx buffers responses unless told otherwise, which would hold events back.
        'x-accel-buffering': 'no',
      });
      let id = 0;
      const send = (type: string, data: unknown) => {
        raw.write(`id: ${++id}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
        if (raw.writableLength > MAX_BUFFERED_BYTES) {
          request.log.warn({ bufferedBytes: raw.writableLength }, '/events client reads too slowly; ending its stream');
          end();
        }
      };
      raw.write(`retry: ${RECONNECT_MS}\n\n`);
      send('hello', {
        refreshMs: events.refreshMs,
        keepAliveMs: events.keepAliveMs,
        temporalUiWorkflowsUrl: permits.temporalUi.workflowsUrl() ?? null,
      });
      const actor = actorOf(request);
      const unsubscribe = permits.events.subscribe((event) => {
        const shown = eventShownTo(actor, event);
        if (shown) send(shown.type, shown.data);
      });
      const keepAlive = setInterval(() => raw.write(`: keep-alive\n\n`), events.keepAliveMs);
      let ended = false;
      const stop = () => {
        if (ended) return;
        ended = true;
        clearInterval(keepAlive);
        unsubscribe();
        open.delete(end);
      };
      function end() {
        stop();
        raw.end();
      }
      open.add(end);
      raw.once('close', stop);
      request.log.info('/events stream opened');
    },
  });
};
