// A holder that writes to the fencing store while it holds a permit: run it under `permit run`, which
// puts the permit in its environment. Each write carries PERMIT_FENCING_SEQ; the store refuses one
// whose number is below the highest it has accepted for the key, and then the writer stops (exit 3).
//
//   permit run orders -- node --import tsx examples/fencing-store/writer.ts
//
// FENCING_STORE_URL: the store; WRITER: a name for the log (default the pid); WRITE_EVERY_MS: pause
// between writes (default 200); FENCING_KEY: the store key (default the resource; a resource of
// several slots needs one key per slot, e.g. "$PERMIT_RESOURCE.$PERMIT_SLOT").
import { setTimeout as delay } from 'node:timers/promises';

const EXIT_REFUSED = 3;

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    process.stderr.write(`writer: ${name} is not set (run me under permit run, with FENCING_STORE_URL set)\n`);
    process.exit(64);
  }
  return value;
}

const storeUrl = required('FENCING_STORE_URL');
const fencingSeq = required('PERMIT_FENCING_SEQ');
const key = process.env.FENCING_KEY || required('PERMIT_RESOURCE');
const writer = process.env.WRITER || `writer pid ${process.pid}`;
const everyMs = Number(process.env.WRITE_EVERY_MS ?? 200);
const say = (fields: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ at: Date.now(), writer, pid: process.pid, fencingSeq, ...fields })}\n`);

for (let count = 1; ; count++) {
  let status: number;
  let body: Record<string, unknown>;
  try {
    const response = await fetch(`${storeUrl}/keys/${encodeURIComponent(key)}/writes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ fencingSeq, writer, value: `${writer} write ${count}` }),
    });
    status = response.status;
    body = (await response.json()) as Record<string, unknown>;
  } catch (error) {
    say({ event: 'unreachable', message: (error as Error).message });
    await delay(everyMs);
    continue;
  }
  if (status === 200) {
    say({ event: 'accepted', count, id: body.id });
  } else if (status === 409) {
    say({ event: 'refused', count, highestSeq: body.highestSeq, message: body.message });
    process.exit(EXIT_REFUSED);
  } else {
    say({ event: 'error', count, status, body });
  }
  await delay(everyMs);
}
